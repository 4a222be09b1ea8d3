using Akka.Actor;

namespace AkkaTcpTransfer.Cluster;

/// <summary>Marks the messages that cross between server nodes; <see cref="ClusterSerializer"/> writes them all.</summary>
internal interface IClusterMessage;

/// <summary>Between the <see cref="RegistryReplicaActor"/>s of the server nodes of one cluster, and between them and the
/// cluster's <see cref="NameDirectoryActor"/>. Every node's replica tells its registry who is online on the others (fed by
/// <see cref="NodeHello"/>, <see cref="SessionUp"/> and <see cref="SessionDown"/>) for presence, who and routing; the
/// directory alone decides who may take a name.</summary>
internal static class ClusterMessages
{
    /// <summary>A client online on some node: its name, its session actor there (where relayed offers and frames go),
    /// the largest frame it accepts, and its identity digest (its account: where direct messages to it go).</summary>
    public sealed record RemoteSession(string Name, IActorRef Peer, int MaxFrame, byte[] Identity);

    /// <summary>Replica to the replica of another node, when it sees that node up: who is online here. Sent in parts
    /// of at most <see cref="PartSize"/> sessions; part 0 replaces everything the receiver held for this node.
    /// <paramref name="TokenKey"/> proves the same token (<see cref="ClusterKeys.TokenKey"/>) without showing it.
    /// <paramref name="Registry"/> is the sending node's session registry (direct lines for its clients go there).
    /// <paramref name="LinkHost"/>:<paramref name="LinkPort"/> is where the sending node takes node links
    /// (<see cref="NodeLinksActor"/>); port 0 while it has none.
    /// <paramref name="Last"/> marks the last part: sessions of that node not named in any part are gone.</summary>
    /// <paramref name="StoreId"/> names the database the sending node uses: nodes of one cluster share one.
    public sealed record NodeHello(int ProtocolVersion, byte[] TokenKey, int Part, bool Last, IReadOnlyList<RemoteSession> Sessions,
        IActorRef Registry, string LinkHost = "", int LinkPort = 0, string StoreId = "")
        : IClusterMessage
    {
        public const int PartSize = 256;
    }

    /// <summary>Answer to a <see cref="NodeHello"/> with a different key: the younger of the two nodes leaves.</summary>
    public sealed record NodeRefused(string Reason) : IClusterMessage;

    /// <summary>A client joined on the sending node.</summary>
    public sealed record SessionUp(RemoteSession Session) : IClusterMessage;

    /// <summary>The client whose session actor is <paramref name="Peer"/> left the sending node.</summary>
    public sealed record SessionDown(string Name, IActorRef Peer) : IClusterMessage;

    /// <summary>A message to everyone, already accepted (and paid for) on the sending node: deliver to local clients.</summary>
    public sealed record Broadcast(string From, long AtMs, string Text, long Seq) : IClusterMessage;


    /// <summary>Replica to directory: may this client (<paramref name="Identity"/>: the digest of its resume key)
    /// have <paramref name="Name"/>? Answered with <see cref="ClaimAnswer"/>.</summary>
    public sealed record Claim(long Request, string Name, byte[] Identity) : IClusterMessage;

    /// <summary><paramref name="Reason"/> says why not when <paramref name="Granted"/> is false.</summary>
    public sealed record ClaimAnswer(long Request, bool Granted, string Reason) : IClusterMessage;

    /// <summary>Replica to directory: the client of that identity left this node, or a grant came too late to be
    /// used; free its name if the directory still holds it for that very grant (<paramref name="Claim"/>: the request
    /// id it was granted for).</summary>
    public sealed record Release(string Name, byte[] Identity, long Claim) : IClusterMessage;

    /// <summary>Directory to a replica: the same client (same identity) came back on another node; end its session
    /// here as replaced.</summary>
    public sealed record Takeover(string Name) : IClusterMessage;

    /// <summary>Replica to another node's replica: send again what you know of <paramref name="Name"/>'s session there
    /// (a <see cref="SessionUp"/>, if it is one of yours). Asked after a takeover.</summary>
    public sealed record ResendSession(string Name) : IClusterMessage;

    /// <summary>A new directory (the singleton started or moved, and lost its state) asks every replica what it holds.</summary>
    public sealed record RebuildRequest : IClusterMessage
    {
        public static readonly RebuildRequest Instance = new();
        private RebuildRequest() { }
    }

    /// <summary>Replica to directory: the names its clients hold, with their identities, in parts of at most
    /// <see cref="NodeHello.PartSize"/>; <paramref name="Last"/> marks the last.</summary>
    public sealed record Holding(IReadOnlyList<HeldName> Names, bool Last) : IClusterMessage;

    /// <summary>Replica to directory, when another node becomes reachable again (a <see cref="Release"/> may have been
    /// lost meanwhile): every name this node holds or is claiming, in parts (<paramref name="Last"/> marks the last);
    /// the directory frees what it holds for this node that is not listed, unless granted for a claim made after the
    /// list (request ids above <paramref name="UpTo"/>).</summary>
    public sealed record Reconcile(IReadOnlyList<HeldName> Names, long UpTo, bool Last) : IClusterMessage;

    /// <param name="Claim">The request id the name was granted for.</param>
    public sealed record HeldName(string Name, byte[] Identity, long Claim);
}
