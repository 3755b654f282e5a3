from clsm_cli.cli.app import run

run()
