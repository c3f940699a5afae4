from triage_desk.cli import main

main()
