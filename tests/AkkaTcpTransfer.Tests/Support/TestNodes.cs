using AkkaTcpTransfer.Hosting;
using AkkaTcpTransfer.Settings;

namespace AkkaTcpTransfer.Tests.Support;

/// <summary>Starts real server and client nodes on 127.0.0.1, port 0, with short timeouts suited to tests, each
/// with an <see cref="EventLog"/>, and stops them all at the end.</summary>
public sealed class TestNodes(bool tls = true) : IAsyncDisposable
{
    /// <summary>Settings every node of these tests gets for its transport: nothing with TLS (the default), else --insecure.</summary>
    private (string, string)[] Transport => tls ? [] : [Insecure];

    private readonly List<NodeHost> _nodes = [];
    private readonly List<EventLog> _logs = [];
    private readonly List<SystemHealth> _health = [];

    /// <summary>Set by a test that provokes failures on purpose (an actor killed, say): its ERROR logs are expected.</summary>
    public bool ExpectErrors { get; set; }
    private readonly string _stateRoot = Directory.CreateTempSubdirectory("att-state-").FullName;
    private int _stateDirs;

    /// <summary>A fresh state folder for the next node (nodes never share resume keys or identities by accident).</summary>
    private (string, string) StateDir() => ("state-dir", Path.Combine(_stateRoot, $"node-{Interlocked.Increment(ref _stateDirs)}"));

    /// <summary>Overrides every test node gets: quick reconnects and timeouts, quiet logging.</summary>
    public static readonly (string, string)[] Fast =
    [
        ("host", "127.0.0.1"),
        ("client.reconnect.min-backoff", "50ms"),
        ("client.reconnect.max-backoff", "300ms"),
        ("server.handshake-timeout", "2s"),
        // Receivers accept at once unless a test says otherwise (a client asks by default).
        ("transfer.auto-accept", "on"),
        ("akka.loglevel", "WARNING"),
        ("akka.stdout-loglevel", "WARNING"),
    ];

    /// <summary>The key fingerprint of the test server listening on <paramref name="port"/>, or null if it runs without
    /// TLS (or is not ours). Clients of these tests are told it, as a person would be by the server's operator.</summary>
    public static string? FingerprintOf(int port) => Fingerprints.TryGetValue(port, out var fingerprint) ? fingerprint : null;

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<int, string?> Fingerprints = new();

    /// <summary>The settings naming the cluster key every cluster node of these tests holds.</summary>
    public static (string, string)[] ClusterKey => [("cluster.certificate", SharedClusterKey.Value.Certificate), ("cluster.key", SharedClusterKey.Value.Key)];

    private static readonly Lazy<(string Certificate, string Key)> SharedClusterKey = new(() => NewClusterKey());

    /// <summary>A new cluster key in a folder of its own: its certificate and key files.</summary>
    public static (string Certificate, string Key) NewClusterKey()
    {
        var folder = Directory.CreateTempSubdirectory("att-cluster-key-").FullName;
        using var made = AkkaTcpTransfer.Security.ClusterIdentity.Create(folder);
        return (Path.Combine(folder, AkkaTcpTransfer.Security.ClusterIdentity.CertificateFileName),
            Path.Combine(folder, AkkaTcpTransfer.Security.ClusterIdentity.KeyFileName));
    }

    /// <summary>Without TLS: the settings of a node started with --insecure.</summary>
    public static readonly (string, string) Insecure = ("tls.enabled", "off");

    public Task<(ServerNode Node, EventLog Log)> StartServer(params (string, string)[] overrides) => StartServer(null, overrides);

    /// <param name="extra">Akka settings no override can spell (a list, say), over everything else.</param>
    public async Task<(ServerNode Node, EventLog Log)> StartServer(Akka.Configuration.Config? extra, params (string, string)[] overrides)
    {
        var log = new EventLog("server");
        // The nodes of a cluster share one database: here, one SQLite file for the nodes of these tests (one machine).
        if (overrides.Any(o => o is ("cluster.enabled", "on")) && !overrides.Any(o => o.Item1.StartsWith("store.", StringComparison.Ordinal)))
            overrides = [.. overrides, ("store.sqlite-file", Path.Combine(_stateRoot, "cluster.db"))];
        // The nodes of these tests' clusters hold one cluster key (made once for the test run), unless a test names its own.
        if (overrides.Any(o => o is ("cluster.enabled", "on")) && !overrides.Any(o => o.Item1 == "cluster.certificate"))
            overrides = [.. overrides, .. ClusterKey];
        var config = NodeConfig.Build(NodeRole.Server, [.. Fast, ("port", "0"), StateDir(), .. Transport, .. overrides]);
        if (extra is not null) config = extra.WithFallback(config);
        var health = new SystemHealth("server");
        var plugin = NodeSettings.Read(config, NodeRole.Server).Cluster.Enabled ? new AkkaTcpTransfer.Cluster.ClusterPlugin() : null;
        var node = await ServerNode.StartAsync(config, plugin, system => { log.Attach(system); health.Attach(system); });
        Fingerprints[node.Port] = node.Fingerprint;
        _health.Add(health);
        _nodes.Add(node);
        _logs.Add(log);
        return (node, log);
    }

    public async Task<(ClientNode Node, EventLog Log)> StartClient(string name, int port, params (string, string)[] overrides)
    {
        var log = new EventLog(name);
        (string, string)[] pin = FingerprintOf(port) is { } fingerprint ? [("tls.fingerprint", fingerprint)] : [];
        var config = NodeConfig.Build(NodeRole.Client,
            [.. Fast, ("port", port.ToString(System.Globalization.CultureInfo.InvariantCulture)), ("name", name), StateDir(), .. Transport, .. pin, .. overrides]);
        var health = new SystemHealth(name);
        var node = await ClientNode.StartAsync(config, system => { log.Attach(system); health.Attach(system); });
        _health.Add(health);
        _nodes.Add(node);
        _logs.Add(log);
        return (node, log);
    }

    public async ValueTask DisposeAsync()
    {
        // What went wrong while the test ran (not while stopping, when late messages are normal).
        foreach (var h in _health) h.Close();
        var problems = _health.SelectMany(h => h.Problems.Select(p => $"[{h.Name}] {p}")).ToList();
        await Task.WhenAll(_nodes.Select(n => n.StopAsync()));
        foreach (var log in _logs) log.Dispose();
        try
        {
            Directory.Delete(_stateRoot, recursive: true);
        }
        catch (IOException)
        {
            // best effort: it is a temporary folder
        }
        if (!ExpectErrors) Assert.True(problems.Count == 0, "the nodes reported problems:\n" + string.Join("\n", problems));
    }
}
