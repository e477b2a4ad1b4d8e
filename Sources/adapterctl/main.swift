import AdapterCLI

await AdapterCtl.runAsMain()
