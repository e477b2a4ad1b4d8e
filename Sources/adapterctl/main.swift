import AdapterCLI
await AdapterCtl.main()
