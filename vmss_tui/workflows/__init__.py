"""Multi-step jobs that combine the data layer, SSH and the domain; no Textual.

    guest_survey.py   the per-instance disk summary of a scale set over SSH (bounded, cached, refreshable)
    disk_prepare.py   preparing empty data disks on instances through Run Command or Custom Script
"""
