from qgen_cli.app import main

main()
