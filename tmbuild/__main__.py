from tmbuild.cli import main

main()
