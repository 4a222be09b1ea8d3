using Akka.Actor;
using Akka.IO;
using AkkaTcpTransfer.Security;

namespace AkkaTcpTransfer.Tcp;

/// <summary>The lower half of a <see cref="ConnectionActor"/>: moves its bytes between the Akka.IO connection and the
/// frame layer, in the clear (<see cref="PlainTransport"/>) or through TLS (<see cref="TlsTransport"/>). It lives inside
/// the actor (no message hop is added): the actor calls it on its own thread, and it reports back through
/// <see cref="ITransportOwner"/>, also on the actor's thread. Whatever a transport does on other threads comes back
/// as an <see cref="ITransportMessage"/> that the actor hands to <see cref="Handle"/>.</summary>
internal interface IByteTransport : IDisposable
{
    /// <summary>The socket is registered. Plain: ready at once. TLS: the handshake begins.</summary>
    void Start();

    /// <summary>Bytes Akka.IO read from the socket.</summary>
    void Received(ByteString data);

    /// <summary>Whether the actor may ask Akka.IO for another read (TLS: not while much ciphertext waits to be decrypted).</summary>
    bool WantsInput { get; }

    /// <summary>Sends <paramref name="data"/>. The actor gets <paramref name="ack"/> once the bytes are handed on (plain:
    /// Akka.IO took them; TLS: encrypted and handed to Akka.IO within the ciphertext window). Writes complete in order.</summary>
    void Write(ByteString data, Akka.IO.Tcp.Event ack);

    /// <summary>Nothing more will be written: after the writes already made (TLS: and a close_notify), half-close the
    /// socket (ConfirmedClose).</summary>
    void Shutdown();

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

    /// <summary>The peer's first bytes are not a TLS handshake: it speaks in the clear.</summary>
    void PeerNotTls(ByteString firstBytes);

    /// <summary>The transport read everything it will (after <see cref="IByteTransport.DrainAfterClose"/>, or the
    /// peer's TLS close), or failed reading (<paramref name="error"/>).</summary>
    void InputEnded(string? error);

    /// <summary>The transport has room for more input: ask Akka.IO for a read if none is pending.</summary>
    void InputWanted();
}

/// <summary>What a TLS handshake settled, as both ends see it.</summary>
public sealed record TlsSession(string Protocol, string CipherSuite, string ApplicationProtocol, string? PeerFingerprint, TrustBasis? Trust);

/// <summary>Bytes as they are: each write goes to Akka.IO with the caller's ack.</summary>
internal sealed class PlainTransport(IActorRef tcp, ITransportOwner owner) : IByteTransport
{
    public void Start() => owner.TransportReady(null);

    public void Received(ByteString data) => owner.Plaintext(data.IsCompact ? data.ToReadOnlySpan() : data.ToArray());

    public bool WantsInput => true;

    public void Write(ByteString data, Akka.IO.Tcp.Event ack) => tcp.Tell(Akka.IO.Tcp.Write.Create(data, ack));

    public void Shutdown() => tcp.Tell(Akka.IO.Tcp.ConfirmedClose.Instance);

    public bool DrainAfterClose() => false;

    public void Handle(ITransportMessage message)
    {
    }

    public void Dispose()
    {
    }
}
