from bpwalk.cli import main

main()
