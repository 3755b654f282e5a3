from clsm_cli.cli.app import main

main()
