using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace AkkaTcpTransfer.Benchmarks;

/// <summary>What every scenario shares: where things are, how to start the CLI, test files, and the OS knobs.</summary>
public sealed partial class Bench(string workDir, Report report, bool smoke, IReadOnlyList<(string Key, string Value)> overrides)
{
    /// <summary>Settings (--set key=value) applied to every node this run starts.</summary>
    public IReadOnlyList<(string Key, string Value)> Overrides { get; } = overrides;

    private string[] SetArgs => [.. Overrides.SelectMany(o => new[] { "--set", $"{o.Key}={o.Value}" })];

    public string WorkDir { get; } = workDir;
    public Report Report { get; } = report;
    public bool Smoke { get; } = smoke;

    public static string CliAssembly { get; } = JsonEventProcess.AssemblyFromMetadata(typeof(Bench).Assembly, "CliAssembly");

    public static string SelfAssembly { get; } = typeof(Bench).Assembly.Location;

    public static readonly TimeSpan LongWait = TimeSpan.FromMinutes(10);

    public static string I(long v) => v.ToString(CultureInfo.InvariantCulture);

    public string Dir(string name)
    {
        var path = Path.Combine(WorkDir, name);
        if (Directory.Exists(path)) Directory.Delete(path, recursive: true);
        Directory.CreateDirectory(path);
        return path;
    }

    /// <summary>A server process on a free port, events as JSON; quiet logs.</summary>
    public async Task<(JsonEventProcess Process, int Port)> StartServer(string downloads, params string[] extra)
    {
        // Each server its own state folder (a server holds its database alone), unless the scenario names one.
        string[] state = extra.Contains("--state-dir") ? [] : ["--state-dir", Directory.CreateTempSubdirectory("server-state-").FullName];
        var server = JsonEventProcess.Start(CliAssembly, WorkDir, LongWait,
            ["server", "--port", "0", "--json", "--downloads", downloads, "--set", "akka.loglevel=ERROR", .. state, .. SetArgs, .. extra]);
        var port = await server.Listening();
        _trust[port] = server.TrustArgs();
        _fingerprints[port] = server.Fingerprint;
        WireClient.Trust(port, server.Fingerprint);
        return (server, port);
    }

    private readonly System.Collections.Concurrent.ConcurrentDictionary<int, string?> _fingerprints = new();

    /// <summary>Settings for a client node in this process: trust the server on <paramref name="port"/> by its
    /// fingerprint (or no TLS, for a server without), and keep state in the work folder.</summary>
    public (string, string)[] ClientSettings(int port) =>
    [
        _fingerprints.GetValueOrDefault(port) is { } fingerprint ? ("tls.fingerprint", fingerprint) : ("tls.enabled", "off"),
        ("state-dir", Path.Combine(WorkDir, "client-state")),
    ];

    /// <summary>A client reaching <paramref name="serverPort"/>'s server through <paramref name="proxyPort"/> (a proxy)
    /// trusts it as it would directly.</summary>
    public void TrustLike(int proxyPort, int serverPort)
    {
        _trust[proxyPort] = _trust.GetValueOrDefault(serverPort, []);
        _fingerprints[proxyPort] = _fingerprints.GetValueOrDefault(serverPort);
    }

    /// <summary>How a client trusts the server on each port: the fingerprint it printed (or --insecure without TLS).</summary>
    private readonly System.Collections.Concurrent.ConcurrentDictionary<int, string[]> _trust = new();

    public async Task<JsonEventProcess> StartClient(int port, string name, string downloads, params string[] extra)
    {
        var client = JsonEventProcess.Start(CliAssembly, WorkDir, LongWait,
            ["client", "--port", I(port), "--name", name, "--yes", "--json", "--downloads", downloads, "--set", "akka.loglevel=ERROR", .. SetArgs,
                .. _trust.GetValueOrDefault(port, []), .. extra]);
        await client.WaitFor("connected");
        return client;
    }

    /// <summary>A file of pseudo-random bytes (incompressible), written once and reused by every run.</summary>
    public string SourceFile(long size)
    {
        var path = Path.Combine(WorkDir, $"source-{size}.bin");
        if (File.Exists(path) && new FileInfo(path).Length == size) return path;
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20);
        var random = new Random(12345);
        var buffer = new byte[1 << 20];
        for (var left = size; left > 0; left -= buffer.Length)
        {
            random.NextBytes(buffer);
            stream.Write(buffer, 0, (int)Math.Min(buffer.Length, left));
        }
        return path;
    }

    public static string Sha256(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    /// <summary>Flush dirty pages between runs, so one run's writeback does not slow the next.</summary>
    public static void Sync()
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo("sync") { UseShellExecute = false });
            p?.WaitForExit(60_000);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // no sync(1): nothing to flush with
        }
    }

    /// <summary>A port that was free a moment ago, for programs that cannot report the one they bound (nc).</summary>
    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    public static string? Which(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, program)).FirstOrDefault(File.Exists);

    // ---- open-file limit (10,000 connections need more than the usual 1,024 descriptors)

    [StructLayout(LayoutKind.Sequential)]
    private struct RLimit
    {
        public ulong Current;
        public ulong Max;
    }

    [LibraryImport("libc", EntryPoint = "getrlimit", SetLastError = true)]
    private static partial int GetRLimit(int resource, out RLimit limit);

    [LibraryImport("libc", EntryPoint = "setrlimit", SetLastError = true)]
    private static partial int SetRLimit(int resource, in RLimit limit);

    /// <summary>Raises the soft open-file limit to the hard one (inherited by the processes we start); returns it.</summary>
    public static long RaiseOpenFileLimit()
    {
        const int RLIMIT_NOFILE = 7;
        if (!OperatingSystem.IsLinux() || GetRLimit(RLIMIT_NOFILE, out var limit) != 0) return 1024;
        if (limit.Current < limit.Max)
        {
            var raised = limit with { Current = limit.Max };
            if (SetRLimit(RLIMIT_NOFILE, raised) == 0) limit = raised;
        }
        return (long)Math.Min(limit.Current, int.MaxValue);
    }
}
