"""Domain objects and pure logic on them. No I/O, no SDK, no Textual."""
