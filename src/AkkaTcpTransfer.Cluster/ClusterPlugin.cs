using Akka.Actor;
using Akka.Configuration;
using AkkaTcpTransfer.Hosting;
using AkkaTcpTransfer.Security;
using AkkaTcpTransfer.Server;
using AkkaTcpTransfer.Server.Entities;
using AkkaTcpTransfer.Settings;

namespace AkkaTcpTransfer.Cluster;

/// <summary>Several servers acting as one (Akka.Cluster): pass it to
/// <see cref="ServerNode.StartAsync(Config, ServerPlugin?, Action{ActorSystem}?, CancellationToken)"/> for a node whose
/// settings have <c>cluster.enabled</c>. The server then runs a <see cref="ClusterNodeActor"/> (membership, the name
/// directory, the registry's replica) and the <see cref="NodeLinksActor"/> (relays between nodes) beside its own parts.</summary>
public sealed class ClusterPlugin : ServerPlugin
{
    private ClusterIdentity? _identity;
    private Akka.Actor.Setup.Setup[] _setups = [];

    internal override IReadOnlyList<Akka.Actor.Setup.Setup> Setups => _setups;

    internal override async Task<(Config Config, NodeSettings Settings)> PrepareAsync(Config config, NodeSettings settings, CancellationToken ct)
    {
        if (!settings.Cluster.Enabled) throw new ConfigException("the cluster plugin was given to a server without cluster.enabled");
        var linkAddress = await ServerNode.AddressOf(settings.Cluster.Host, ct);
        var publicAddress = settings.Cluster.PublicHost.Length > 0 ? await ServerNode.AddressOf(settings.Cluster.PublicHost, ct) : linkAddress;
        if (settings.Cluster is { CertificateFile: { } certificate, KeyFile: { } key })
        {
            try
            {
                _identity = ClusterIdentity.Load(certificate, key, settings.Cluster.CaFile);
            }
            catch (IdentityException e)
            {
                throw new ConfigException(e.Message, e);
            }
            _setups = [ClusterTls.Setup(_identity)];
        }
        // Before joining: a seed that would refuse this node (another key, or TLS on one side only) is named now, with
        // the reason, rather than after a join timeout that says nothing.
        await ClusterTls.CheckSeedsAsync(settings.Cluster, _identity, ct);
        return (ClusterConfig.For(settings.Cluster).WithFallback(config), settings with { Cluster = settings.Cluster with { LinkHost = linkAddress, LinkPublicHost = publicAddress } });
    }

    /// <summary>The cluster's rooms and accounts are sharded (each lives on one node at a time, wherever its messages come
    /// from, so exactly one node writes its journal), and its name registry and list of rooms are singletons on the
    /// oldest node, all over the database the nodes share.</summary>
    internal override (ServerEntities Entities, IReadOnlyDictionary<IActorRef, string> KeyParts)? StartEntities(IActorContext context, NodeSettings settings) =>
        ClusterEntities.Start(context, settings);

    internal override ServerPluginParts Start(IActorContext context, ServerPluginContext server)
    {
        var settings = server.Settings;
        var links = context.ActorOf(NodeLinksActor.Props(settings, ClusterKeys.TokenKey(settings.Token), _identity), "links");
        var node = context.ActorOf(ClusterNodeActor.Props(settings, server.Server, server.Registry, links), "cluster");
        return new ServerPluginParts(node, "cluster membership", links);
    }
}
