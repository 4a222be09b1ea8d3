using Akka.Actor;
using Akka.IO;

namespace AkkaTcpTransfer.Tcp;

/// <summary>The stream SslStream reads ciphertext from and writes ciphertext to, standing in for a socket: the
/// connection actor feeds it what Akka.IO read (<see cref="Feed"/>), and what SslStream writes goes straight to the
/// Akka.IO connection as an acknowledged <c>Tcp.Write</c>. Both directions are bounded: reading waits until bytes are
/// fed (the actor asks Akka.IO for more only while little is queued), and writing waits while more than
/// <c>window</c> bytes are unacknowledged, which is how a peer that does not read slows our encryption down.</summary>
/// <remarks>Traps it avoids: a zero-byte read waits for data and consumes none (returning
/// 0 on an empty queue would mean end of stream); waiters complete asynchronously, so that SslStream's decryption never
/// runs on the actor's thread; each write copies SslStream's buffer exactly once, because SslStream reuses it.</remarks>
internal sealed class TlsBridgeStream : Stream
{
    /// <summary>Acknowledges one ciphertext write; the actor hands it back through <see cref="Acked"/>.</summary>
    public sealed class CipherAck : Akka.IO.Tcp.Event, ITransportMessage
    {
        public static readonly CipherAck Instance = new();
    }

    private readonly object _gate = new();
    private readonly IActorRef _tcp;
    private readonly IActorRef _self;
    private readonly int _window;
    private readonly Action _wantInput;

    // inbound: fed on the actor's thread, read by SslStream's read
    private readonly Queue<ArraySegment<byte>> _in = new();
    private int _headOffset;       // bytes of the queue's first segment already read
    private int _inBytes;
    private bool _inEnded;
    private bool _wantSignalled;
    private TaskCompletionSource? _dataWaiter;

    // outbound: written by SslStream, acknowledged on the actor's thread; a gathered write's buffer is the pool's until
    // its acknowledgement
    private readonly Queue<(int Size, byte[]? Pooled)> _outSizes = new();
    private long _outInFlight;
    private bool _gathering;
    private byte[]? _gathered;
    private int _gatheredLength;
    private TaskCompletionSource? _ackWaiter;
    private Exception? _broken;

    /// <param name="wantInput">Called (on a reader's thread) when a read finds nothing queued: the actor should read
    /// from the socket if it is not already.</param>
    public TlsBridgeStream(IActorRef tcp, IActorRef self, int window, Action wantInput)
    {
        _tcp = tcp;
        _self = self;
        _window = window;
        _wantInput = wantInput;
    }

    /// <summary>Ciphertext bytes fed and not yet read by SslStream.</summary>
    public int Queued
    {
        get
        {
            lock (_gate) return _inBytes;
        }
    }

    /// <summary>Ciphertext written and not yet acknowledged by Akka.IO.</summary>
    public long InFlight
    {
        get
        {
            lock (_gate) return _outInFlight;
        }
    }

    /// <summary>Bytes Akka.IO read, queued for SslStream to read.</summary>
    public void Feed(ByteString data)
    {
        TaskCompletionSource? waiter;
        lock (_gate)
        {
            if (_inEnded) return;
            if (data.Count > 0)
            {
                // One copy: Akka.NET 1.5.74 does not expose a ByteString's own buffers. Into a pooled buffer, given
                // back once SslStream has read it (a fresh array per read cost a zeroing and the GC's time).
                var rented = System.Buffers.ArrayPool<byte>.Shared.Rent(data.Count);
                data.CopyTo(rented, 0, data.Count);
                _in.Enqueue(new ArraySegment<byte>(rented, 0, data.Count));
                _inBytes += data.Count;
            }
            _wantSignalled = false;
            waiter = _dataWaiter;
            _dataWaiter = null;
        }
        waiter?.TrySetResult();
    }

    /// <summary>No more bytes will come: once the queue is read, reads return 0 (end of stream).</summary>
    public void EndInput()
    {
        TaskCompletionSource? waiter;
        lock (_gate)
        {
            _inEnded = true;
            waiter = _dataWaiter;
            _dataWaiter = null;
        }
        waiter?.TrySetResult();
    }

    /// <summary>From now until <see cref="FlushGatheredAsync"/>, what SslStream writes is gathered into one buffer
    /// instead of going out record by record: SslStream writes each TLS record (16 KiB of plaintext at most) on its own,
    /// and each would otherwise cost a message to Akka.IO, a socket write and an acknowledgement.</summary>
    public void Gather()
    {
        lock (_gate) _gathering = true;
    }

    /// <summary>Sends what was gathered as one acknowledged write (waiting, as any write, while more than the window is
    /// unacknowledged), and stops gathering.</summary>
    public ValueTask FlushGatheredAsync(CancellationToken cancellationToken)
    {
        byte[]? gathered;
        int length;
        lock (_gate)
        {
            _gathering = false;
            gathered = _gathered;
            length = _gatheredLength;
            _gathered = null;
            _gatheredLength = 0;
        }
        return gathered is null ? ValueTask.CompletedTask : SendAsync(gathered, length, pooled: true, cancellationToken);
    }

    /// <summary>Bytes gathered and not yet flushed.</summary>
    public int Gathered
    {
        get
        {
            lock (_gate) return _gatheredLength;
        }
    }

    /// <summary>Akka.IO took one ciphertext write (acks come in order).</summary>
    public void Acked()
    {
        TaskCompletionSource? waiter = null;
        lock (_gate)
        {
            if (_outSizes.TryDequeue(out var written))
            {
                _outInFlight -= written.Size;
                // Akka.IO is done with it: the socket has taken the bytes.
                if (written.Pooled is { } buffer) System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
            }
            if (_outInFlight <= _window)
            {
                waiter = _ackWaiter;
                _ackWaiter = null;
            }
        }
        waiter?.TrySetResult();
    }

    /// <summary>The connection is gone: pending and later writes fail, reads end.</summary>
    public void Break(Exception reason)
    {
        TaskCompletionSource? ackWaiter, dataWaiter;
        lock (_gate)
        {
            _broken ??= reason;
            _inEnded = true;
            ackWaiter = _ackWaiter;
            dataWaiter = _dataWaiter;
            _ackWaiter = _dataWaiter = null;
        }
        ackWaiter?.TrySetException(reason);
        dataWaiter?.TrySetResult();
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            Task wait;
            var signal = false;
            lock (_gate)
            {
                if (_inBytes > 0)
                {
                    // A zero-byte read asks "is there data?": answer without consuming any.
                    if (buffer.Length == 0) return 0;
                    var copied = 0;
                    while (copied < buffer.Length && _in.TryPeek(out var head))
                    {
                        var n = Math.Min(head.Count - _headOffset, buffer.Length - copied);
                        head.AsSpan(_headOffset, n).CopyTo(buffer.Span[copied..]);
                        copied += n;
                        _headOffset += n;
                        if (_headOffset < head.Count) continue;
                        _in.Dequeue();
                        System.Buffers.ArrayPool<byte>.Shared.Return(head.Array!);
                        _headOffset = 0;
                    }
                    _inBytes -= copied;
                    return copied;
                }
                if (_inEnded) return 0;
                _dataWaiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                wait = _dataWaiter.Task;
                if (!_wantSignalled)
                {
                    _wantSignalled = true;
                    signal = true;
                }
            }
            if (signal) _wantInput();
            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        if (buffer.IsEmpty) return ValueTask.CompletedTask;
        lock (_gate)
        {
            if (_broken is not null) throw new IOException("the connection is closed", _broken);
            if (_gathering)
            {
                // SslStream reuses its buffer once this returns: copied, once, behind what was gathered before.
                var needed = _gatheredLength + buffer.Length;
                if (_gathered is null || _gathered.Length < needed)
                {
                    var larger = System.Buffers.ArrayPool<byte>.Shared.Rent(Math.Max(needed, Math.Max(GatherInitial, (_gathered?.Length ?? 0) * 2)));
                    if (_gathered is not null)
                    {
                        _gathered.AsSpan(0, _gatheredLength).CopyTo(larger);
                        System.Buffers.ArrayPool<byte>.Shared.Return(_gathered);
                    }
                    _gathered = larger;
                }
                buffer.Span.CopyTo(_gathered.AsSpan(_gatheredLength));
                _gatheredLength = needed;
                return ValueTask.CompletedTask;
            }
        }
        // The handshake, close_notify: at once. SslStream reuses its buffer once this returns: copy it, once.
        var bytes = buffer.ToArray();
        return SendAsync(bytes, bytes.Length, pooled: false, cancellationToken);
    }

    /// <summary>What a gathered write starts with: a 64 KiB chunk's frame, encrypted, fits.</summary>
    private const int GatherInitial = 80 * 1024;

    private async ValueTask SendAsync(byte[] bytes, int length, bool pooled, CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            if (_broken is not null)
            {
                if (pooled) System.Buffers.ArrayPool<byte>.Shared.Return(bytes);
                throw new IOException("the connection is closed", _broken);
            }
            _outSizes.Enqueue((length, pooled ? bytes : null));
            _outInFlight += length;
        }
        _tcp.Tell(Akka.IO.Tcp.Write.Create(ByteString.FromBytes(bytes, 0, length), CipherAck.Instance), _self);
        while (true)
        {
            Task wait;
            lock (_gate)
            {
                if (_broken is not null) throw new IOException("the connection is closed", _broken);
                if (_outInFlight <= _window) return;
                _ackWaiter ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                wait = _ackWaiter.Task;
            }
            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override void Flush() { }

    // SslStream's asynchronous methods use only the asynchronous methods above; blocking ones have no place here.
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("the TLS bridge is asynchronous only");

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("the TLS bridge is asynchronous only");

    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}
