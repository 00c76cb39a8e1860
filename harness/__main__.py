from harness.app.cli import main

main()
