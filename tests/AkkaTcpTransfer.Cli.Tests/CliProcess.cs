using AkkaTcpTransfer.Benchmarks;

namespace AkkaTcpTransfer.Cli.Tests;

/// <summary>The real akka-tcp-transfer program, as built with these tests, as a child process.</summary>
public static class CliProcess
{
    public const int SIGINT = JsonEventProcess.SIGINT;
    public const int SIGTERM = JsonEventProcess.SIGTERM;

    public static string Assembly { get; } = JsonEventProcess.AssemblyFromMetadata(typeof(CliProcess).Assembly, "CliAssembly");

    /// <summary>The program with <paramref name="args"/>. A server given no --state-dir gets a folder of its own: a server
    /// holds its database alone, and the tests run many at once (a test that restarts a server names its folder).</summary>
    public static JsonEventProcess Start(params string[] args) => JsonEventProcess.Start(Assembly, null, TimeSpan.FromSeconds(20), OwnState(args));

    /// <summary>As <see cref="Start"/>, with these environment variables.</summary>
    public static JsonEventProcess StartWith(IReadOnlyDictionary<string, string> environment, params string[] args) =>
        JsonEventProcess.Start(Assembly, null, TimeSpan.FromSeconds(20), openFileLimit: null, environment, OwnState(args));

    /// <summary>A fresh state folder, for a server that is to be started again on the same one.</summary>
    public static string NewStateDir() => Directory.CreateTempSubdirectory("att-server-state-").FullName;

    private static string[] OwnState(string[] args) =>
        args.Length > 0 && args[0] == "server" && !args.Contains("--state-dir") ? [.. args, "--state-dir", NewStateDir()] : args;

    /// <summary>A client of <paramref name="server"/> (whose listening event was seen) on <paramref name="port"/>,
    /// trusting it by the fingerprint it printed, as a person told by its operator would.</summary>
    public static JsonEventProcess Client(JsonEventProcess server, int port, params string[] args) =>
        Start(["client", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), .. server.TrustArgs(), .. args]);

    /// <summary>Every stdout line is a JSON object with an "event" field (the --json contract).</summary>
    public static void AssertStdoutIsOnlyJsonEvents(this JsonEventProcess process) => Assert.Empty(process.NonEventLines());
}
