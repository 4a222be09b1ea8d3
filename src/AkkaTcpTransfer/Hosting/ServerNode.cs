using Akka.Actor;
using Akka.Configuration;
using AkkaTcpTransfer.Security;
using AkkaTcpTransfer.Server;
using AkkaTcpTransfer.Settings;
using AkkaTcpTransfer.Store;

namespace AkkaTcpTransfer.Hosting;

/// <summary>A running server node: an actor system listening for clients.</summary>
public sealed class ServerNode : NodeHost
{
    private ServerNode(ActorSystem system, IActorRef commands, NodeSettings settings, string host, int port, ServerIdentity? identity)
        : base(system, commands, settings)
    {
        Host = host;
        Port = port;
        Identity = identity;
    }

    /// <summary>What the server proves itself with in TLS (its <see cref="ServerIdentity.Fingerprint"/> is what clients
    /// pin), or null when it runs without TLS.</summary>
    internal ServerIdentity? Identity { get; }

    /// <summary>The fingerprint clients check (SHA-256 of the server's public key), or null without TLS.</summary>
    public string? Fingerprint => Identity?.Fingerprint;

    /// <summary>The address actually bound.</summary>
    public string Host { get; }

    /// <summary>The port actually bound (the real one when port 0 was configured).</summary>
    public int Port { get; }

    /// <summary>Every server runs an actor system of this name (in a cluster, Akka addresses include it).</summary>
    public const string SystemName = "akka-tcp-transfer-server";

    /// <summary>Starts a single server from <paramref name="config"/> (see <see cref="NodeConfig.Build(NodeRole, (string, string)[])"/>)
    /// and returns once it listens. <paramref name="beforeStart"/> runs on the new actor system before the server
    /// starts, so a subscriber sees every event, the first <see cref="Events.Listening"/> included.</summary>
    /// <exception cref="ConfigException">The configuration is invalid.</exception>
    /// <exception cref="NodeStartException">The server cannot bind, or its TLS identity cannot be read or made.</exception>
    public static Task<ServerNode> StartAsync(Config config, Action<ActorSystem>? beforeStart = null, CancellationToken ct = default) =>
        StartAsync(config, plugin: null, beforeStart, ct);

    /// <summary>Starts a server with <paramref name="plugin"/> running beside it: the cluster plugin
    /// (AkkaTcpTransfer.Cluster's <c>ClusterPlugin</c>) for a node of several servers acting as one
    /// (<c>cluster.enabled</c> needs it).</summary>
    /// <exception cref="ConfigException">The configuration is invalid, or asks for a cluster without the plugin.</exception>
    /// <exception cref="NodeStartException">The server cannot bind, cannot join its cluster, or its TLS identity cannot be read or made.</exception>
    public static async Task<ServerNode> StartAsync(Config config, ServerPlugin? plugin, Action<ActorSystem>? beforeStart = null, CancellationToken ct = default)
    {
        var settings = NodeSettings.Read(config, NodeRole.Server);
        if (settings.Cluster.Enabled && plugin is null)
            throw new ConfigException("cluster.enabled needs the cluster plugin (AkkaTcpTransfer.Cluster's ClusterPlugin): pass it to ServerNode.StartAsync");
        CheckDownloads(settings.Downloads);
        AssemblyPreloader.LoadConnectionPath();
        var endpoint = await ResolveAsync(settings.Host, settings.Port, ct);
        var security = NodeSecurity.ForServer(settings);
        if (plugin is not null) (config, settings) = await plugin.PrepareAsync(config, settings, ct);
        var ready = settings;
        // The database is opened and checked before anything else: a damaged or foreign file stops the start, by name.
        StoreDatabase store;
        try
        {
            store = StoreDatabase.Open(settings.Store, shared: settings.Cluster.Enabled);
        }
        catch (StoreException e)
        {
            throw new NodeStartException(StartFailure.Store, e.Message);
        }
        try
        {
            var (system, root, started) = await StartRootAsync(config, ready, SystemName,
                () => ServerActor.Props(ready, endpoint, security, plugin), "server", beforeStart, TimeSpan.FromSeconds(30), ct,
                [new StoreSetup(store), .. plugin?.Setups ?? []]);
            // Closed as the actor system ends (every write it made is committed by then), before its termination completes:
            // a server started again with the same state folder finds the database free.
            system.RegisterOnTermination(store.Dispose);
            return new ServerNode(system, root, ready, started.Host, started.Port, security?.Identity);
        }
        catch
        {
            store.Dispose();
            throw;
        }
    }

    /// <summary>Serves a client that reached this server over a WebSocket, which the caller (a web server) accepted: the
    /// browser client, or any program speaking the wire protocol in binary WebSocket messages (docs/PROTOCOL.md,
    /// "WebSocket"). The connection passes the same admission as a TCP one from <paramref name="remote"/> and runs on the
    /// same connection actor, with the same limits. The protocol inside is not encrypted again: serve the WebSocket over
    /// HTTPS unless the server runs without TLS. Completes when the connection is over (or the server stopped);
    /// <paramref name="ct"/> aborts it.</summary>
    public async Task ServeWebSocketAsync(System.Net.WebSockets.WebSocket socket, System.Net.EndPoint remote, CancellationToken ct = default)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var cancelled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var abort = ct.Register(() =>
        {
            socket.Abort();
            cancelled.TrySetResult();
        });
        Commands.Tell(new Tcp.ListenerMessages.AdoptWebSocket(socket, remote, done));
        // Also when nobody adopts it (the listener has stopped: the server is going) and the request is given up.
        await Task.WhenAny(done.Task, System.WhenTerminated, cancelled.Task);
        if (!done.Task.IsCompleted) socket.Abort();
    }

    /// <summary>The address <paramref name="host"/> resolves to (for plugins that need an IP address, like a cluster's links).</summary>
    internal static async Task<string> AddressOf(string host, CancellationToken ct) => (await ResolveAsync(host, 0, ct)).Address.ToString();
}
