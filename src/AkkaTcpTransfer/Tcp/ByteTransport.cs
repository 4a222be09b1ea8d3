using Akka.Actor;
using Akka.IO;
using AkkaTcpTransfer.Security;

namespace AkkaTcpTransfer.Tcp;

/// <summary>The lower half of a <see cref="ConnectionActor"/>: moves its bytes between the Akka.IO connection and the
/// frame layer, in the clear (<see cref="PlainTransport"/>) or through TLS (<see cref="TlsTransport"/>), behind a
/// <see cref="SniffingTransport"/> that sees which one the peer actually speaks. It lives inside the actor (no message
/// hop is added): the actor calls it on its own thread, and it reports back through <see cref="ITransportOwner"/>, also
/// on the actor's thread. Whatever a transport does on other threads comes back as an <see cref="ITransportMessage"/>
/// that the actor hands to <see cref="Handle"/>. The actor talks to the socket only through it: reads, writes and the
/// ends of the connection (half-close, abort; the end of input comes back as <see cref="ITransportOwner.InputEnded"/>).</summary>
internal interface IByteTransport : IDisposable
{
    /// <summary>The socket is registered. Plain: ready at once. TLS: the handshake begins.</summary>
    void Start();

    /// <summary>Ask the socket for the next read (pull mode: nothing is read unless asked for).</summary>
    void RequestRead();

    /// <summary>Bytes Akka.IO read from the socket.</summary>
    void Received(ByteString data);

    /// <summary>Whether the actor may ask for another read (TLS: not while much ciphertext waits to be decrypted).</summary>
    bool WantsInput { get; }

    /// <summary>Sends <paramref name="write"/>. The actor gets <paramref name="ack"/> once the bytes are handed on (plain:
    /// Akka.IO took them; TLS: encrypted and handed to Akka.IO within the ciphertext window). Writes complete in order.</summary>
    void Write(OutboundWrite write, Akka.IO.Tcp.Event ack);

    /// <summary>Nothing more will be written: after the writes already made (TLS: and a close_notify), send FIN and keep
    /// reading until the peer's (Akka.IO's ConfirmedClose).</summary>
    void HalfClose();

    /// <summary>End the connection at once (an RST): nothing queued is sent.</summary>
    void Abort();

    /// <summary>The socket is closed: TLS hands the rest of what it decrypted to the owner, then reports
    /// <see cref="ITransportOwner.InputEnded"/>. False if there is nothing to wait for (plain).</summary>
    bool DrainAfterClose();

    /// <summary>A message this transport sent its actor from another thread.</summary>
    void Handle(ITransportMessage message);
}

/// <summary>A transport's message to its own actor. Late ones (after the actor stopped) are not worth a dead-letter
/// warning: the connection is gone and so is the reason for them.</summary>
internal interface ITransportMessage : Akka.Event.IDeadLetterSuppression;

/// <summary>What a transport reports to its connection actor (always on the actor's thread).</summary>
internal interface ITransportOwner
{
    /// <summary>Frames may flow: at once for plain, after the handshake for TLS (with what it settled).</summary>
    void TransportReady(TlsSession? session);

    /// <summary>The transport cannot be set up (TLS handshake failed, timed out, or the server was not trusted).</summary>
    void TransportFailed(string reason, ServerTrust.Check? trust);

    /// <summary>Plain bytes from the peer, in order. The span is valid only during the call.</summary>
    void Plaintext(ReadOnlySpan<byte> bytes);

    /// <summary>The peer's first bytes show that it does (<paramref name="peerSpeaksTls"/>) or does not speak TLS, unlike
    /// this end: from now on bytes go in the clear both ways, so that one Refused frame can say why (or be read).</summary>
    void EncryptionMismatch(bool peerSpeaksTls);

    /// <summary>The input is over: everything was read (after <see cref="IByteTransport.DrainAfterClose"/>, or the peer's
    /// TLS close), or reading failed (<paramref name="error"/>).</summary>
    void InputEnded(string? error);

    /// <summary>The transport has room for more input: ask for a read if none is pending.</summary>
    void InputWanted();
}

/// <summary>What a TLS handshake settled, as both ends see it.</summary>
internal sealed record TlsSession(string Protocol, string CipherSuite, string ApplicationProtocol, string? PeerFingerprint, TrustBasis? Trust);

/// <summary>Bytes as they are: each write goes to Akka.IO with the caller's ack, its segments uncopied.</summary>
internal sealed class PlainTransport(IActorRef tcp, IActorRef self, ITransportOwner owner) : IByteTransport
{
    public void Start() => owner.TransportReady(null);

    public void RequestRead() => tcp.Tell(Akka.IO.Tcp.ResumeReading.Instance, self);

    public void Received(ByteString data) => owner.Plaintext(data.IsCompact ? data.ToReadOnlySpan() : data.ToArray());

    public bool WantsInput => true;

    public void Write(OutboundWrite write, Akka.IO.Tcp.Event ack) =>
        tcp.Tell(Akka.IO.Tcp.Write.Create(write.Segments.Count == 1 ? ByteString.FromBytes(write.Segments[0]) : ByteString.FromBytes(write.Segments), ack), self);

    public void HalfClose() => tcp.Tell(Akka.IO.Tcp.ConfirmedClose.Instance, self);

    public void Abort() => tcp.Tell(Akka.IO.Tcp.Abort.Instance, self);

    public bool DrainAfterClose() => false;

    public void Handle(ITransportMessage message)
    {
    }

    public void Dispose()
    {
    }
}

/// <summary>Looks at the peer's first bytes before the expected transport does. TLS and our frames cannot be confused (a
/// TLS record starts with 0x16 or 0x15, which read as a frame length would be above 350 MB; a frame starts with 0x00),
/// so one byte tells which the peer speaks. When it is not what this end expects, the owner hears
/// <see cref="ITransportOwner.EncryptionMismatch"/> and bytes go in the clear from then on (docs/PROTOCOL.md,
/// "Refusals before TLS"): a server answers with one Refused frame, a client reads the server's.</summary>
internal sealed class SniffingTransport(IByteTransport expected, Func<IByteTransport> plain, bool expectTls, ITransportOwner owner) : IByteTransport
{
    /// <summary>A TLS handshake record starts with this byte (content type 22).</summary>
    public const byte HandshakeRecord = 0x16;

    /// <summary>A TLS alert record (content type 21): what a TLS peer sends first when it rejects our ClientHello.</summary>
    public const byte AlertRecord = 0x15;

    private IByteTransport _inner = expected;
    private bool _sniffed;

    public void Start() => _inner.Start();

    public void RequestRead() => _inner.RequestRead();

    public void Received(ByteString data)
    {
        if (!_sniffed && data.Count > 0)
        {
            _sniffed = true;
            var peerSpeaksTls = data[0] is HandshakeRecord or AlertRecord;
            if (peerSpeaksTls != expectTls)
            {
                if (expectTls)
                {
                    // The TLS transport is dropped before it read a byte: what follows is read as frames.
                    _inner.Dispose();
                    _inner = plain();
                }
                owner.EncryptionMismatch(peerSpeaksTls);
                if (peerSpeaksTls) return; // a TLS hello is nothing a plaintext server can read
            }
        }
        _inner.Received(data);
    }

    public bool WantsInput => _inner.WantsInput;

    public void Write(OutboundWrite write, Akka.IO.Tcp.Event ack) => _inner.Write(write, ack);

    public void HalfClose() => _inner.HalfClose();

    public void Abort() => _inner.Abort();

    public bool DrainAfterClose() => _inner.DrainAfterClose();

    public void Handle(ITransportMessage message) => _inner.Handle(message);

    public void Dispose() => _inner.Dispose();
}
