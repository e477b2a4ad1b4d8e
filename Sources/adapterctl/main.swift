import AdapterCLI
AdapterCtl.main()
