using System.Net.WebSockets;
using Akka.Actor;
using Akka.Event;
using Akka.IO;

namespace AkkaTcpTransfer.Tcp;

/// <summary>A WebSocket playing the part Akka.IO's connection actor plays for a TCP socket, so that the same
/// <see cref="ConnectionActor"/> (and everything above it: limits, names, rooms, transfers) serves a browser. It speaks
/// the subset of Akka.IO's connection protocol the connection actor and the refusing actor use, in pull mode:
/// <c>Register</c>, <c>ResumeReading</c> (one <c>Received</c> per request), <c>Write</c> with its ack, <c>ConfirmedClose</c>
/// (our close frame, then reading until the peer's), <c>Close</c>, <c>Abort</c>; and it reports the ends as Akka.IO does
/// (<c>PeerClosed</c>, <c>ConfirmedClosed</c>, <c>Closed</c>, <c>Aborted</c>, <c>ErrorClosed</c>). Messages are bytes of
/// the stream: their boundaries mean nothing, as TCP's segments mean nothing (docs/PROTOCOL.md, "WebSocket"). A text
/// message is a violation that ends the connection. The TLS, if any, is the web server's (HTTPS).</summary>
/// <remarks>One read and one write are in flight at most, each an async call on the socket whose completion comes back
/// as a message. The actor ends with its handler (the connection actor), as Akka.IO's connection does, and completes
/// <c>done</c> when it stops so that the web server's request handler can return.</remarks>
internal sealed class WebSocketSocketActor : ReceiveActor, IWithTimers
{
    private sealed record Unregistered : IDeadLetterSuppression;

    /// <summary>As Akka.IO's register timeout: a socket nobody took charge of is closed.</summary>
    private static readonly TimeSpan RegisterTimeout = TimeSpan.FromSeconds(10);

    public ITimerScheduler Timers { get; set; } = null!;

    // Completions of the socket's calls: one that ends after the actor stopped (the peer closed first, say) is no dead letter.
    private sealed record ReadDone(ValueWebSocketReceiveResult Result) : IDeadLetterSuppression;

    private sealed record WriteDone : IDeadLetterSuppression;

    private sealed record IoFailed(Exception Cause, bool Reading) : IDeadLetterSuppression;

    private sealed record CloseSent : IDeadLetterSuppression;

    /// <summary>How long a close frame may take to leave (behind a write to a peer that does not read, say) before the
    /// connection is cut: the request, and its descriptor, end either way.</summary>
    private static readonly TimeSpan CloseWait = TimeSpan.FromSeconds(5);

    /// <summary>The most one read hands over: a 64 KiB chunk's frame (65,549 bytes) in one piece. (Reading ahead of the
    /// handler's requests, into a second buffer, was tried: no gain the benchmark could see; the browser's end bounds
    /// the rate.)</summary>
    private const int ReadBytes = 80 * 1024;

    private readonly WebSocket _socket;
    private readonly TaskCompletionSource _done;
    private readonly byte[] _buffer = new byte[ReadBytes];
    private readonly Queue<Akka.IO.Tcp.Write> _writes = new();
    private IActorRef? _handler;
    private bool _reading;
    private bool _writing;
    private bool _readRequested;
    /// <summary>What the handler asked for once the writes are out: a close frame, then (confirmed) reading to the peer's.</summary>
    private Akka.IO.Tcp.CloseCommand? _closing;
    private bool _closeSent;
    private Task _closeOutput = Task.CompletedTask;
    /// <summary>The read in flight, if any (only one may be).</summary>
    private Task? _pendingRead;
    private bool _finished;

    public static Props Props(WebSocket socket, TaskCompletionSource done) =>
        Akka.Actor.Props.Create(() => new WebSocketSocketActor(socket, done));

    public WebSocketSocketActor(WebSocket socket, TaskCompletionSource done)
    {
        _socket = socket;
        _done = done;
        Receive<Akka.IO.Tcp.Register>(r =>
        {
            Timers.Cancel(nameof(Unregistered));
            _handler = r.Handler;
            Context.Watch(_handler);
            if (_readRequested) StartRead();
        });
        Receive<Akka.IO.Tcp.ResumeReading>(_ =>
        {
            _readRequested = true;
            if (_handler is not null) StartRead();
        });
        Receive<Akka.IO.Tcp.SuspendReading>(_ => _readRequested = false);
        Receive<Akka.IO.Tcp.Write>(w =>
        {
            if (_closing is not null) return;
            _writes.Enqueue(w);
            PumpWrites();
        });
        Receive<Akka.IO.Tcp.CloseCommand>(c =>
        {
            if (c is Akka.IO.Tcp.Abort)
            {
                _socket.Abort();
                Finish(Akka.IO.Tcp.Aborted.Instance);
                return;
            }
            _closing ??= c;
            PumpWrites();
        });
        Receive<ReadDone>(d => OnRead(d.Result));
        Receive<WriteDone>(_ =>
        {
            _writing = false;
            var write = _writes.Dequeue();
            if (write.WantsAck) _handler?.Tell(write.Ack);
            PumpWrites();
        });
        Receive<CloseSent>(_ =>
        {
            if (_closing is Akka.IO.Tcp.Close)
            {
                Finish(Akka.IO.Tcp.Closed.Instance);
                return;
            }
            // ConfirmedClose: read on until the peer's close frame, whether or not reads are asked for.
            _readRequested = true;
            StartRead();
        });
        Receive<IoFailed>(f => Finish(new Akka.IO.Tcp.ErrorClosed(Describe(f.Cause))));
        Receive<Terminated>(t => t.ActorRef.Equals(_handler), _ =>
        {
            _socket.Abort();
            _finished = true;
            Context.Stop(Self);
        });
        Receive<Unregistered>(_ =>
        {
            _socket.Abort();
            Finish(Akka.IO.Tcp.Aborted.Instance);
        });
        // The listener's notices for connection owners, should one reach a socket: nothing to do.
        ReceiveAny(_ => { });
    }

    protected override void PreStart() => Timers.StartSingleTimer(nameof(Unregistered), new Unregistered(), RegisterTimeout);

    private void StartRead()
    {
        if (_reading || _finished || !_readRequested) return;
        _reading = true;
        _readRequested = false;
        var read = _socket.ReceiveAsync(_buffer.AsMemory(), CancellationToken.None).AsTask();
        _pendingRead = read;
        read.PipeTo(Self, success: r => new ReadDone(r), failure: e => new IoFailed(e, Reading: true));
    }

    private void OnRead(ValueWebSocketReceiveResult result)
    {
        _reading = false;
        _pendingRead = null;
        switch (result.MessageType)
        {
            case WebSocketMessageType.Close:
                if (_closeSent)
                {
                    Finish(Akka.IO.Tcp.ConfirmedClosed.Instance);
                    return;
                }
                // The peer closed first: answer its close frame (Akka.IO's PeerClosed, the handler not keeping the
                // connection open), so that the browser sees a clean close.
                _closeOutput = _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
                _closeSent = true;
                Finish(Akka.IO.Tcp.PeerClosed.Instance);
                return;
            case WebSocketMessageType.Text:
                _closeOutput = _socket.CloseOutputAsync(WebSocketCloseStatus.InvalidMessageType, "binary messages only", CancellationToken.None);
                _closeSent = true;
                Finish(new Akka.IO.Tcp.ErrorClosed("the peer sent a text message (the protocol travels in binary messages only)"));
                return;
        }
        if (_closeSent)
        {
            // Closing: what the peer still sends is read and dropped, as TCP's would be after our FIN.
            _readRequested = true;
            StartRead();
            return;
        }
        if (result.Count > 0) _handler!.Tell(new Akka.IO.Tcp.Received(ByteString.CopyFrom(_buffer, 0, result.Count)));
        else
        {
            // An empty message carries nothing and would cost a read each, past the connection's frame-rate gate.
            _closeOutput = _socket.CloseOutputAsync(WebSocketCloseStatus.PolicyViolation, "empty message", CancellationToken.None);
            _closeSent = true;
            Finish(new Akka.IO.Tcp.ErrorClosed("the peer sent an empty message"));
        }
    }

    private void PumpWrites()
    {
        if (_writing || _finished) return;
        if (_writes.Count > 0)
        {
            _writing = true;
            var data = _writes.Peek().Data;
            Send(data).PipeTo(Self, success: () => new WriteDone(), failure: e => new IoFailed(e, Reading: false));
            return;
        }
        if (_closing is null || _closeSent) return;
        _closeSent = true;
        _closeOutput = _socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, CancellationToken.None);
        _closeOutput.PipeTo(Self, success: () => new CloseSent(), failure: e => new IoFailed(e, Reading: false));
    }

    /// <summary>One binary message per write: the connection actor already batches small frames into one write. The
    /// bytes are copied once (a write's segments may be pooled and reused once it is acknowledged).</summary>
    private Task Send(ByteString data) =>
        _socket.SendAsync(data.ToArray(), WebSocketMessageType.Binary, endOfMessage: true, CancellationToken.None);

    private static string Describe(Exception e) =>
        (e is AggregateException { InnerException: { } inner } ? inner : e).Message;

    private void Finish(Akka.IO.Tcp.ConnectionClosed how)
    {
        if (_finished) return;
        _finished = true;
        _handler?.Tell(how);
        Context.Stop(Self);
    }

    protected override void PostStop()
    {
        if (!_closeSent) _socket.Abort();
        // The request that carried the socket ends once the close handshake is over, or after CloseWait: a close frame
        // queued behind a write to a peer that does not read would otherwise hold the connection open for good.
        _ = EndAsync(_socket, _closeOutput, _pendingRead, _done);
    }

    /// <summary>After our close frame, the peer's is read (what comes before it dropped), as TCP reads to the peer's FIN:
    /// cutting the connection at once would reset it, and the peer could lose what we sent last (a refusal, a goodbye,
    /// the close frame itself).</summary>
    private static async Task EndAsync(WebSocket socket, Task closeOutput, Task? pendingRead, TaskCompletionSource done)
    {
        var deadline = DateTime.UtcNow + CloseWait;
        TimeSpan Left() => deadline - DateTime.UtcNow is { Ticks: > 0 } left ? left : TimeSpan.Zero;
        try
        {
            await closeOutput.WaitAsync(Left());
            if (pendingRead is not null) await pendingRead.WaitAsync(Left());
            var scratch = new byte[4096];
            while (socket.State == WebSocketState.CloseSent)
                await socket.ReceiveAsync(scratch.AsMemory(), CancellationToken.None).AsTask().WaitAsync(Left());
        }
        catch (Exception e) when (e is TimeoutException or WebSocketException or OperationCanceledException or ObjectDisposedException or IOException)
        {
            // not over in time, or the peer went: cut below
        }
        if (socket.State is not WebSocketState.Closed) socket.Abort();
        done.TrySetResult();
    }
}
