using Akka.Actor;

namespace AkkaTcpTransfer.Server.Federation;

/// <summary>How a server's <see cref="Sessions.SessionRegistryActor"/> shares its clients with other server nodes, through
/// a replica actor that a cluster plugin provides (<see cref="ServerPlugin"/>). The registry knows nothing of how
/// nodes find each other: it reports its own sessions to the replica, asks it before letting a client take a name,
/// and keeps the sessions the replica reports from elsewhere, for presence, who, direct messages and offers. Without a
/// replica (a single server) none of this is used.</summary>
internal static class FederationMessages
{
    /// <summary>Replica -> registry, before any client joins: report to <paramref name="Replica"/>, and ask it for names
    /// (its answer within <paramref name="ClaimTimeout"/>, else the client is told to try again).</summary>
    public sealed record Federate(IActorRef Replica, TimeSpan ClaimTimeout);

    /// <summary>A client online on this node: its session actor (where relayed offers and frames go), its frame limit,
    /// its identity digest and the claim its name was granted for (0 without a replica).</summary>
    public sealed record LocalSession(string Name, IActorRef Peer, int MaxFrame, byte[] Identity, long Claim);

    // ---- registry -> replica ----

    /// <summary>A client of this node is online.</summary>
    public sealed record LocalSessionUp(LocalSession Session);

    /// <summary>A client of this node left (its name may be freed if it is still held for that claim).</summary>
    public sealed record LocalSessionDown(LocalSession Session);

    /// <summary>A line to everyone, already delivered here and paid for: the other nodes deliver it to their clients.</summary>
    public sealed record LocalBroadcast(string From, long AtMs, string Text, long Seq);

    /// <summary>May the client of <paramref name="Identity"/> have <paramref name="Name"/>? Answered with
    /// <see cref="NameClaimAnswer"/> carrying <paramref name="Request"/> (the registry's own number for the claim).</summary>
    public sealed record ClaimName(long Request, string Name, byte[] Identity);

    /// <summary>A grant that came too late to be used: give the name back if it is still held for that claim.</summary>
    public sealed record ReleaseName(string Name, byte[] Identity, long Claim);

    /// <summary>A client of this node was replaced by its own new connection on another node: the others should hear
    /// that session again from the node that now has it.</summary>
    public sealed record SessionMoved(string Name);

    // ---- replica -> registry ----

    public sealed record NameClaimAnswer(long Request, bool Granted, string Reason);

    /// <summary>A client online on another node; <paramref name="Node"/> is that node's registry (direct lines to the
    /// client go there).</summary>
    public sealed record RemoteSessionUp(string Name, IActorRef Peer, int MaxFrame, IActorRef Node, byte[] Identity);

    /// <summary>The client whose session actor is <paramref name="Peer"/> left its node.</summary>
    public sealed record RemoteSessionDown(string Name, IActorRef Peer);

    /// <summary>Every session held for the node whose registry is <paramref name="Node"/> is gone (it left, or was removed).</summary>
    public sealed record RemoteNodeGone(IActorRef Node);

    /// <summary>A line to everyone from another node: deliver it to this node's clients.</summary>
    public sealed record RemoteBroadcast(string From, long AtMs, string Text, long Seq);

    /// <summary>The same client came back on another node: end its session here as replaced.</summary>
    public sealed record Takeover(string Name);

    // ---- registry -> registry (on another node) ----

}
