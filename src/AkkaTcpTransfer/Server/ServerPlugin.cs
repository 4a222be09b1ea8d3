using Akka.Actor;
using Akka.Configuration;
using AkkaTcpTransfer.Settings;

namespace AkkaTcpTransfer.Server;

/// <summary>A part a server runs beside its own, loaded only when asked for: the cluster of several servers acting as one
/// (the AkkaTcpTransfer.Cluster assembly's <c>ClusterPlugin</c>). A single server loads no plugin code at all. Pass one
/// to <see cref="Hosting.ServerNode.StartAsync(Config, ServerPlugin?, Action{ActorSystem}?, CancellationToken)"/>.</summary>
public abstract class ServerPlugin
{
    private protected ServerPlugin() { }

    /// <summary>Called before the actor system starts: the Akka settings the plugin needs, layered over the node's, and
    /// the node's settings as the plugin completes them (a cluster resolves the address its links are reached at).</summary>
    internal abstract Task<(Config Config, NodeSettings Settings)> PrepareAsync(Config config, NodeSettings settings, CancellationToken ct);

    /// <summary>After <see cref="PrepareAsync"/>: what the plugin adds to the actor system's setup (a cluster: its TLS).</summary>
    internal virtual IReadOnlyList<Akka.Actor.Setup.Setup> Setups => [];

    /// <summary>Called in the server root's constructor, before the listener exists: starts the plugin's actors as the
    /// root's children (in <paramref name="context"/>) and says which of them the server needs.</summary>
    internal abstract ServerPluginParts Start(IActorContext context, ServerPluginContext server);

    /// <summary>Called first in the server root's constructor: where this node reaches rooms, accounts and registered
    /// names (a cluster's are shared by all its nodes), and which of those actors the server cannot work without; null
    /// for a single server's own (<see cref="Entities.LocalEntities"/>).</summary>
    internal virtual (Entities.ServerEntities Entities, IReadOnlyDictionary<IActorRef, string> KeyParts)? StartEntities(IActorContext context, NodeSettings settings) => null;
}

/// <summary>What the server root hands a plugin.</summary>
/// <param name="Server">The server root: told <see cref="ServerPluginMessages"/>.</param>
/// <param name="Registry">The session registry, to federate (<see cref="Federation.FederationMessages.Federate"/>).</param>
internal sealed record ServerPluginContext(NodeSettings Settings, IActorRef Server, IActorRef Registry);

/// <summary>A plugin's actors the server needs: <paramref name="Root"/> (watched: the server cannot work on without it)
/// and, for relays to sessions on other nodes, <paramref name="Links"/> (told <see cref="Relay.RelayMessages.ViaNode"/>).</summary>
internal sealed record ServerPluginParts(IActorRef Root, string Name, IActorRef? Links);

/// <summary>What a plugin tells the server root.</summary>
internal static class ServerPluginMessages
{
    /// <summary>The plugin is ready (a cluster node is up and accepted): the server may report itself started.</summary>
    public sealed record Ready
    {
        public static readonly Ready Instance = new();
        private Ready() { }
    }

    /// <summary>The plugin cannot work: before the server started, its start fails with <paramref name="Kind"/>; after,
    /// the server reports it and carries on (a cluster node leaves the cluster, which ends it).</summary>
    public sealed record Failed(StartFailure Kind, string Reason);
}
