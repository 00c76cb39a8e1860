"""One module per `harness` subcommand; harness.app.cli dispatches to them."""
