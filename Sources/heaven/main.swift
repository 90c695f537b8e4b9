import HeavenCLI

await HeavenCommand.runMain()
