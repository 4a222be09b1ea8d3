using System.Net;
using AkkaTcpTransfer.Protocol;

namespace AkkaTcpTransfer.Tcp;

/// <summary>The contract between a <see cref="ConnectionActor"/> and its parent, the connection's owner.</summary>
public static class ConnectionMessages
{
    // ---- owner -> connection ----

    /// <summary>Encode and send a frame. Chunk frames wait in the data queue; every other frame goes ahead of
    /// all queued chunks.</summary>
    public sealed record Send(Frame Frame);

    /// <summary>Send a control frame that was encoded once for many connections (a broadcast).</summary>
    public sealed record SendEncoded(byte[] Frame);

    /// <summary>Say goodbye with this reason, flush queued control frames, drop queued file data, close.</summary>
    public sealed record Close(WireCode Code, string Reason);

    /// <summary>The peer's own frame limit, learned in the handshake; frames above it are never sent.</summary>
    public sealed record PeerLimits(int MaxFrameLength);

    // ---- connection -> owner ----

    /// <summary>The TCP connection is up and registered; frames may be sent.</summary>
    public sealed record Established(EndPoint Remote, EndPoint Local);

    /// <summary>An outgoing connection could not be made. The actor stops after sending this.</summary>
    public sealed record ConnectFailed(string Reason);

    /// <summary>A whole frame arrived. Pings and Goodbyes are handled by the connection and never passed on.</summary>
    public sealed record FrameReceived(Frame Frame);

    /// <summary>The connection is gone. <paramref name="Reason"/> is fit to show a user; <paramref name="PeerCode"/>
    /// is the code of the peer's Goodbye if it sent one. The actor stops after sending this.</summary>
    public sealed record Closed(string Reason, WireCode? PeerCode);
}
