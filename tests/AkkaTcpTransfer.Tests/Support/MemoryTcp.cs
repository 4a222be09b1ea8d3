using Akka.Actor;
using Akka.IO;

namespace AkkaTcpTransfer.Tests.Support;

/// <summary>One end of an in-memory stand-in for an Akka.IO TCP connection in pull mode: it answers the commands a
/// <see cref="Tcp.ConnectionActor"/> sends (Register, ResumeReading, Write with acks, ConfirmedClose, Abort) the way
/// Akka.IO does, and hands what is written to its peer end. Each read delivers at most <c>readSize</c> bytes, so a
/// test can cut the byte stream anywhere: TLS records and frames split at every byte.</summary>
public sealed class MemoryTcp : ReceiveActor
{
    private sealed record Bytes(byte[] Data);

    private sealed class PeerFin
    {
        public static readonly PeerFin Instance = new();
    }

    private sealed class PeerReset
    {
        public static readonly PeerReset Instance = new();
    }

    /// <summary>Joins this end to its peer (sent once to each end).</summary>
    public sealed record Peer(IActorRef Other);

    private readonly int _readSize;
    private readonly Queue<byte> _inbound = new();
    private IActorRef? _handler;
    private IActorRef? _peer;
    private bool _readRequested;
    private bool _peerFinished;
    private bool _finSent;
    private bool _closedReported;

    public static Props Props(int readSize) => Akka.Actor.Props.Create(() => new MemoryTcp(readSize));

    public MemoryTcp(int readSize)
    {
        _readSize = readSize;
        Receive<Peer>(p => _peer = p.Other);
        Receive<Akka.IO.Tcp.Register>(r => _handler = r.Handler);
        Receive<Akka.IO.Tcp.ResumeReading>(_ =>
        {
            _readRequested = true;
            Deliver();
        });
        Receive<Akka.IO.Tcp.Write>(w =>
        {
            if (!_finSent && w.Data.Count > 0) _peer!.Tell(new Bytes(w.Data.ToArray()));
            if (w.Ack is not Akka.IO.Tcp.NoAck) Sender.Tell(w.Ack);
        });
        Receive<Bytes>(b =>
        {
            foreach (var x in b.Data) _inbound.Enqueue(x);
            Deliver();
        });
        Receive<Akka.IO.Tcp.ConfirmedClose>(_ =>
        {
            _finSent = true;
            _peer!.Tell(PeerFin.Instance);
            Deliver();
        });
        Receive<PeerFin>(_ =>
        {
            _peerFinished = true;
            Deliver();
        });
        Receive<Akka.IO.Tcp.Abort>(_ =>
        {
            _peer!.Tell(PeerReset.Instance);
            _handler?.Tell(Akka.IO.Tcp.Aborted.Instance);
            Context.Stop(Self);
        });
        Receive<PeerReset>(_ =>
        {
            _handler?.Tell(new Akka.IO.Tcp.ErrorClosed("connection reset by peer"));
            Context.Stop(Self);
        });
        ReceiveAny(_ => { });
    }

    /// <summary>Pull mode: one Received per ResumeReading, of at most readSize bytes; the peer's FIN once all it sent
    /// was read.</summary>
    private void Deliver()
    {
        if (_handler is null || !_readRequested || _closedReported) return;
        if (_inbound.Count > 0)
        {
            var n = Math.Min(_readSize, _inbound.Count);
            var chunk = new byte[n];
            for (var i = 0; i < n; i++) chunk[i] = _inbound.Dequeue();
            _readRequested = false;
            _handler.Tell(new Akka.IO.Tcp.Received(ByteString.FromBytes(chunk)));
            return;
        }
        if (!_peerFinished) return;
        // keepOpenOnPeerClosed is off: the peer's FIN ends the connection (ConfirmedClosed if we had sent ours).
        _closedReported = true;
        _handler.Tell(_finSent ? Akka.IO.Tcp.ConfirmedClosed.Instance : Akka.IO.Tcp.PeerClosed.Instance);
        if (!_finSent) _peer!.Tell(PeerFin.Instance);
        Context.Stop(Self);
    }
}

/// <summary>A connection actor's parent for tests: creates it, passes everything it says to <c>probe</c>, and answers
/// the read barrier (Delivered → ReadMore) and Closed (→ Release) as a real owner does.</summary>
public sealed class OwnerStub : ReceiveActor
{
    public static Props Props(Props child, IActorRef probe) => Akka.Actor.Props.Create(() => new OwnerStub(child, probe));

    public OwnerStub(Props child, IActorRef probe)
    {
        var connection = Context.ActorOf(child, "connection");
        Receive<Tcp.ConnectionMessages.Delivered>(_ => Sender.Tell(Tcp.ConnectionMessages.ReadMore.Instance));
        Receive<Tcp.ConnectionMessages.Closed>(c =>
        {
            Sender.Tell(Tcp.ConnectionMessages.Release.Instance);
            probe.Tell(c);
        });
        Receive<string>(s => s == "connection", _ => Sender.Tell(connection));
        ReceiveAny(m => probe.Tell(m));
    }
}
