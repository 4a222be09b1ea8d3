using Akka.Actor;
using AkkaTcpTransfer.Protocol;

namespace AkkaTcpTransfer.Server.Relay;

/// <summary>Between two of the server's PeerActors relaying a transfer from one client to another.</summary>
public static class RelayMessages
{
    /// <summary>Sender's peer -> recipient's peer: offer this to your client (From already stamped).</summary>
    public sealed record RelayOffer(Offer Offer, IActorRef SenderPeer) : Cluster.IClusterMessage;

    /// <summary>A transfer frame from the other end, to pass to this peer's client.</summary>
    public sealed record RelayFrame(TransferFrame Frame) : Cluster.IClusterMessage;

    /// <summary>The other end of relay <paramref name="Id"/> is gone (disconnected, or it broke the protocol). Both ends
    /// may be going at once: one that finds its partner already stopped has nothing to tell, so the letter is not a dead
    /// letter worth reporting.</summary>
    public sealed record RelayGone(uint Id, string Reason) : Cluster.IClusterMessage, Akka.Event.IDeadLetterSuppression;
}
