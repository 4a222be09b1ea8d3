using Akka.Actor;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Server.Federation;

namespace AkkaTcpTransfer.Server.Relay;

/// <summary>Between two of the server's PeerActors relaying a transfer from one client to another.</summary>
internal static class RelayMessages
{
    /// <summary>Sender's peer -> recipient's peer: offer this to your client (From already stamped).</summary>
    public sealed record RelayOffer(Offer Offer, IActorRef SenderPeer) : ICrossNodeMessage;

    /// <summary>A transfer frame from the other end, to pass to this peer's client.</summary>
    public sealed record RelayFrame(TransferFrame Frame) : ICrossNodeMessage;

    /// <summary>The other end of relay <paramref name="Id"/> is gone (disconnected, or it broke the protocol). Both ends
    /// may be going at once: one that finds its partner already stopped has nothing to tell, so the letter is not a dead
    /// letter worth reporting.</summary>
    public sealed record RelayGone(uint Id, string Reason) : ICrossNodeMessage, Akka.Event.IDeadLetterSuppression;

    /// <summary>Peer -> the node links of a cluster (<see cref="ServerPluginParts.Links"/>): deliver <paramref name="Message"/>
    /// to <paramref name="Target"/>, a session on another node, keeping the message's sender. Everything one relay sends
    /// a node goes the same way, in order.</summary>
    public sealed record ViaNode(IActorRef Target, ICrossNodeMessage Message);

    /// <summary>Largest chunk relayed between clients on different nodes (a message between nodes is kept small, so that
    /// others never wait long behind one).</summary>
    public const int MaxRemoteChunk = 64 * 1024;
}
