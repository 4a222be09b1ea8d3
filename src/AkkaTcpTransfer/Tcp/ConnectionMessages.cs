using Akka.Actor;
using System.Net;
using AkkaTcpTransfer.Protocol;

namespace AkkaTcpTransfer.Tcp;

/// <summary>The contract between a <see cref="ConnectionActor"/> and its parent, the connection's owner.</summary>
internal static class ConnectionMessages
{
    // ---- owner -> connection ----

    /// <summary>Encode and send a frame. A transfer's Start, Chunk and Done frames wait in the data queue, in order;
    /// every other frame goes ahead of all queued data. A frame that cannot be sent is answered with
    /// <see cref="SendFailed"/>. With <paramref name="Written"/>, the sender is told it once the frame is in the socket:
    /// a sender of many frames (history) sends the next ones only then, so it never fills the send queue.</summary>
    public sealed record Send(Frame Frame, object? Written = null);

    /// <summary>Send a control frame that was encoded once for many connections (a broadcast).</summary>
    public sealed record SendEncoded(byte[] Frame);

    /// <summary>A frame encoded up to a pooled chunk's data, which follows it on the wire from the buffer it arrived in
    /// (no copy); the chunk is released once written, or when the connection cannot send it. Queued with control
    /// frames, in order with them (a node link's messages).</summary>
    public sealed record SendWithTail(byte[] Head, Protocol.Chunk Tail);

    /// <summary>A frame from a part of the server that hears of a client's leaving only after it has gone (a room, an
    /// account, the server-wide room): sent like <see cref="Send"/>, and one that arrives after the connection stopped is
    /// dropped without a dead-letter report. Nobody hears if it cannot be sent; with <paramref name="Written"/>, the
    /// sender hears that it was (a direct message counts as delivered only then).</summary>
    public sealed record Post(Frame Frame, object? Written = null) : Akka.Event.IDeadLetterSuppression, Server.Federation.ICrossNodeMessage;

    /// <summary><see cref="Post"/> of a frame encoded once for many connections (a line to a room).</summary>
    public sealed record PostEncoded(byte[] Frame) : Akka.Event.IDeadLetterSuppression, Server.Federation.ICrossNodeMessage;

    /// <summary>Say goodbye with this reason, flush queued control frames, drop queued file data, close.</summary>
    public sealed record Close(WireCode Code, string Reason);

    /// <summary>The peer's own frame limit, learned in the handshake; frames above it are never sent.</summary>
    public sealed record PeerLimits(int MaxFrameLength);

    /// <summary>Owner -> connection: the handshake is complete. From now on both sides may ping, Pings are consumed
    /// here instead of passed on (before, a Ping is a frame out of place and goes to the owner), and a close says
    /// Goodbye rather than Refused.</summary>
    public sealed record HandshakeDone
    {
        public static readonly HandshakeDone Instance = new();
        private HandshakeDone() { }
    }

    /// <summary>Owner -> connection, in answer to <see cref="Closed"/>: nothing more will be sent to it; it stops.</summary>
    public sealed record Release
    {
        public static readonly Release Instance = new();
        private Release() { }
    }

    /// <summary>Owner -> connection, in answer to <see cref="Delivered"/>: every frame delivered before it is handled;
    /// the connection may read further.</summary>
    public sealed record ReadMore
    {
        public static readonly ReadMore Instance = new();
        private ReadMore() { }
    }

    /// <summary>A sending transfer -> its connection, before its Start: the peer's Acks for <paramref name="Id"/> go
    /// straight to <paramref name="To"/> from now on, not through the owner. They are a sender's only frame per chunk, and
    /// the first follows the Start, so none of them can overtake an earlier frame of that transfer. Frames that go this
    /// way still count against the peer's frame rate (<c>connection.max-frames-per-second</c>), which bounds how many
    /// can wait in the sender's mailbox.</summary>
    public sealed record RouteAcks(uint Id, IActorRef To) : Akka.Event.IDeadLetterSuppression;

    /// <summary>The sending transfer has ended: its Acks go to the owner again (dropped there), unless the id is
    /// routed to another actor by now.</summary>
    public sealed record UnrouteAcks(uint Id, IActorRef To) : Akka.Event.IDeadLetterSuppression;

    /// <summary>The node is over its send budget and this connection is among those that must give way: close as a slow
    /// consumer (sent by another connection, see <see cref="SendBudget"/>).</summary>
    public sealed record Shed
    {
        public static readonly Shed Instance = new();
        private Shed() { }
    }

    // ---- connection -> owner ----

    /// <summary>The connection is up (with TLS: the handshake is done and the server trusted); frames may be sent.
    /// <paramref name="Tls"/> is null for a plaintext connection.</summary>
    public sealed record Established(EndPoint Remote, EndPoint Local, TlsSession? Tls);

    /// <summary>An outgoing connection could not be made. The actor stops after sending this. <paramref name="Refusal"/>:
    /// the server turned us away before TLS, with this code. <paramref name="Trust"/>: the server's identity was not
    /// accepted (its key's <paramref name="Fingerprint"/> is known).</summary>
    public sealed record ConnectFailed(string Reason, WireCode? Refusal = null, Security.TrustProblem? Trust = null, string? Fingerprint = null);

    /// <summary>A whole frame arrived. Pings and Goodbyes are handled by the connection and never passed on.</summary>
    public sealed record FrameReceived(Frame Frame);

    /// <summary>Connection -> owner after each batch of <see cref="FrameReceived"/>: answer with <see cref="ReadMore"/>
    /// once they are handled (simply on receiving this: the mailbox keeps order). Reading waits for the answer, so an
    /// owner that falls behind slows the peer down instead of piling frames up in its mailbox.</summary>
    public sealed record Delivered
    {
        public static readonly Delivered Instance = new();
        private Delivered() { }
    }

    /// <summary>Connection -> whoever asked it to <see cref="Send"/> <paramref name="Frame"/>: it was not sent (too
    /// large for the peer's frame limit, or the connection is not up). Nothing else was affected.</summary>
    public sealed record SendFailed(Frame Frame, string Reason);

    /// <summary>The connection is gone. <paramref name="Reason"/> is fit to show a user; <paramref name="PeerCode"/>
    /// is the code of the peer's Goodbye if it sent one. Answer with <see cref="Release"/>: the actor then stops.</summary>
    public sealed record Closed(string Reason, WireCode? PeerCode);
}
