using AkkaTcpTransfer.Benchmarks;

namespace AkkaTcpTransfer.Cli.Tests;

/// <summary>The real akka-tcp-transfer program, as built with these tests, as a child process.</summary>
public static class CliProcess
{
    public const int SIGINT = JsonEventProcess.SIGINT;
    public const int SIGTERM = JsonEventProcess.SIGTERM;

    public static string Assembly { get; } = JsonEventProcess.AssemblyFromMetadata(typeof(CliProcess).Assembly, "CliAssembly");

    public static JsonEventProcess Start(params string[] args) => JsonEventProcess.Start(Assembly, null, TimeSpan.FromSeconds(20), args);

    /// <summary>As <see cref="Start"/>, with these environment variables.</summary>
    public static JsonEventProcess StartWith(IReadOnlyDictionary<string, string> environment, params string[] args) =>
        JsonEventProcess.Start(Assembly, null, TimeSpan.FromSeconds(20), openFileLimit: null, environment, args);

    /// <summary>A client of <paramref name="server"/> (whose listening event was seen) on <paramref name="port"/>,
    /// trusting it by the fingerprint it printed, as a person told by its operator would.</summary>
    public static JsonEventProcess Client(JsonEventProcess server, int port, params string[] args) =>
        Start(["client", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), .. server.TrustArgs(), .. args]);

    /// <summary>Every stdout line is a JSON object with an "event" field (the --json contract).</summary>
    public static void AssertStdoutIsOnlyJsonEvents(this JsonEventProcess process) => Assert.Empty(process.NonEventLines());
}
