using Akka.Actor;
using Akka.Configuration;
using AkkaTcpTransfer.Hosting;
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
    internal override async Task<(Config Config, NodeSettings Settings)> PrepareAsync(Config config, NodeSettings settings, CancellationToken ct)
    {
        if (!settings.Cluster.Enabled) throw new ConfigException("the cluster plugin was given to a server without cluster.enabled");
        var linkAddress = await ServerNode.AddressOf(settings.Cluster.Host, ct);
        return (ClusterConfig.For(settings.Cluster).WithFallback(config), settings with { Cluster = settings.Cluster with { LinkHost = linkAddress } });
    }

    /// <summary>The cluster's rooms and accounts are sharded (each lives on one node at a time, wherever its messages come
    /// from, so exactly one node writes its journal), and its name registry and list of rooms are singletons on the
    /// oldest node, all over the database the nodes share.</summary>
    internal override (ServerEntities Entities, IReadOnlyDictionary<IActorRef, string> KeyParts)? StartEntities(IActorContext context, NodeSettings settings) =>
        ClusterEntities.Start(context, settings);

    internal override ServerPluginParts Start(IActorContext context, ServerPluginContext server)
    {
        var settings = server.Settings;
        var links = context.ActorOf(NodeLinksActor.Props(settings, ClusterKeys.TokenKey(settings.Token)), "links");
        var node = context.ActorOf(ClusterNodeActor.Props(settings, server.Server, server.Registry, links), "cluster");
        return new ServerPluginParts(node, "cluster membership", links);
    }
}
