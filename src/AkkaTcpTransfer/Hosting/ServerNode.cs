using Akka.Actor;
using Akka.Configuration;
using AkkaTcpTransfer.Security;
using AkkaTcpTransfer.Server;
using AkkaTcpTransfer.Settings;

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
    public ServerIdentity? Identity { get; }

    /// <summary>The fingerprint clients check (SHA-256 of the server's public key), or null without TLS.</summary>
    public string? Fingerprint => Identity?.Fingerprint;

    /// <summary>The address actually bound.</summary>
    public string Host { get; }

    /// <summary>The port actually bound (the real one when port 0 was configured).</summary>
    public int Port { get; }

    /// <summary>Starts a server from <paramref name="config"/> (see <see cref="NodeConfig.Build(NodeRole, (string, string)[])"/>)
    /// and returns once it listens. <paramref name="beforeStart"/> runs on the new actor system before the server
    /// starts, so a subscriber sees every event, the first <see cref="Events.Listening"/> included.</summary>
    /// <exception cref="ConfigException">The configuration is invalid.</exception>
    /// <exception cref="NodeStartException">The server cannot bind, or its TLS identity cannot be read or made.</exception>
    public static async Task<ServerNode> StartAsync(Config config, Action<ActorSystem>? beforeStart = null, CancellationToken ct = default)
    {
        var settings = NodeSettings.Read(config, NodeRole.Server);
        CheckDownloads(settings.Downloads);
        AssemblyPreloader.LoadConnectionPath();
        var endpoint = await ResolveAsync(settings.Host, settings.Port, ct);
        var security = NodeSecurity.ForServer(settings);
        if (settings.Cluster.Enabled)
        {
            config = Cluster.ClusterConfig.For(settings.Cluster).WithFallback(config);
            var linkAddress = (await ResolveAsync(settings.Cluster.Host, 0, ct)).Address.ToString();
            settings = settings with { Cluster = settings.Cluster with { LinkHost = linkAddress } };
        }
        var (system, root, ready) = await StartRootAsync(config, settings, Cluster.ClusterConfig.SystemName,
            () => ServerActor.Props(settings, endpoint, security), "server", beforeStart, TimeSpan.FromSeconds(30), ct);
        return new ServerNode(system, root, settings, ready.Host, ready.Port, security?.Identity);
    }
}
