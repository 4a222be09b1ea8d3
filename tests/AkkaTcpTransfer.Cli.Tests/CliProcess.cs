using AkkaTcpTransfer.Benchmarks;

namespace AkkaTcpTransfer.Cli.Tests;

/// <summary>The real akka-tcp-transfer program, as built with these tests, as a child process.</summary>
public static class CliProcess
{
    public const int SIGINT = JsonEventProcess.SIGINT;
    public const int SIGTERM = JsonEventProcess.SIGTERM;

    public static string Assembly { get; } = JsonEventProcess.AssemblyFromMetadata(typeof(CliProcess).Assembly, "CliAssembly");

    public static JsonEventProcess Start(params string[] args) => JsonEventProcess.Start(Assembly, null, TimeSpan.FromSeconds(20), args);

    /// <summary>Every stdout line is a JSON object with an "event" field (the --json contract).</summary>
    public static void AssertStdoutIsOnlyJsonEvents(this JsonEventProcess process) => Assert.Empty(process.NonEventLines());
}
