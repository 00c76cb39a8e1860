from harness.app.cli import entry

entry()
