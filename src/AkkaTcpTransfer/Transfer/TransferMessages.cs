using Akka.Actor;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Server;
using AkkaTcpTransfer.Transfer.Storage;

namespace AkkaTcpTransfer.Transfer;

/// <summary>Between the node's <see cref="TransfersActor"/>, the connection owners (a client's ClientSessionActor, the
/// server's PeerActor) and the per-transfer <see cref="SenderActor"/>s and <see cref="ReceiverActor"/>s.</summary>
internal static class TransferMessages
{
    /// <summary>One file to send: TransfersActor -> node root -> the owner of the recipient's connection, which
    /// makes a <see cref="SenderActor"/> child for it.</summary>
    /// <param name="Stamp">The last-write time <paramref name="Path"/> must keep while it is read, when it is not the
    /// offered <paramref name="Fingerprint"/> (a kept file: the fingerprint is its uploader's, the copy is the server's).</param>
    /// <param name="Sha256">The content's SHA-256 when known (a kept file): not computed again while it is read.</param>
    public sealed record StartSend(uint Id, string Path, string File, string To, long Size, long Fingerprint, FolderBundle? Bundle = null, long? Stamp = null,
        byte[]? Sha256 = null);

    /// <summary>Owner -> TransfersActor: the send could not start (not connected, unknown recipient).</summary>
    public sealed record SendRefused(uint Id, string Reason);

    /// <summary>Transfer actor -> TransfersActor: I am transfer <paramref name="Id"/> (so that cancel and list reach me).</summary>
    public sealed record Attached(uint Id, string File, TransferDirection Direction, string Peer, long Size, IActorRef Actor);

    /// <summary>Sender -> TransfersActor: the peer refused this offer only for its timing (nothing else about the file):
    /// it is queued again, under the same id, after a pause; <paramref name="SlowDown"/> (the offers came too fast)
    /// halves the pace of offers too, otherwise (the receiver or the relay was busy) the pace stays.</summary>
    public sealed record Throttled(uint Id, bool SlowDown);

    /// <summary>Sender -> TransfersActor: my offer is still unanswered after <c>transfer.offer-slot-grace</c> (a person
    /// decides at the other end): my place among the sends streaming at once goes to the next file.</summary>
    public sealed record AwaitingDecision(uint Id);

    /// <summary>Transfer actor -> TransfersActor: over; <paramref name="Delivered"/> when the file is verified in place.</summary>
    /// <param name="Ending">The event it ended with (why it failed, who cancelled).</param>
    public sealed record Ended(uint Id, TransferDirection Direction, bool Delivered, NodeEvent? Ending = null);

    /// <summary>Owner -> its transfer children: the connection is gone.</summary>
    public sealed record ConnectionLost(string Reason);

    /// <summary>TransfersActor -> transfer actor: a person on this node cancelled it.</summary>
    public sealed record CancelLocal(string By);

    /// <summary>TransfersActor -> receiver waiting for a decision (auto-accept off).</summary>
    public sealed record Decide(bool Accept, string Reason);

    /// <summary>Transfer actor -> its owner: I am over; stop routing frames to me, then <see cref="Release"/> me.</summary>
    public sealed record Finished(IActorRef Transfer);

    /// <summary>Owner -> a finished transfer actor: nothing more is routed to you; stop. One that finds the actor gone
    /// (its owner stopped meanwhile, and with it its children: a node shutting down) had nothing left to do, and is no
    /// dead letter worth reporting.</summary>
    public sealed record Release : Akka.Event.IDeadLetterSuppression
    {
        public static readonly Release Instance = new();
        private Release() { }
    }

    /// <summary>Owner -> receiver: the sender broke the flow control this receiver granted (the offending chunk was
    /// dropped before it reached the receiver); fail the transfer at both ends.</summary>
    public sealed record Violation(string What);
}
