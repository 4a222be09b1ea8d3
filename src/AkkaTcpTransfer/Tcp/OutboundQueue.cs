using System.Runtime.InteropServices;
using AkkaTcpTransfer.Protocol;

namespace AkkaTcpTransfer.Tcp;

/// <summary>One write handed to a transport: the bytes of one or more frames, as segments that are not copied here (a
/// chunk's data stays in the buffer it arrived in). Plain TCP hands the segments to Akka.IO as they are; TLS joins the
/// small ones (heads, control frames) and encrypts a chunk's data from where it is.</summary>
internal readonly record struct OutboundWrite(IReadOnlyList<ArraySegment<byte>> Segments, int Length);

/// <summary>What a connection holds for its peer, in the spirit of Akka.IO's own <c>PendingSimpleWritesQueue</c>:
/// control frames (chat, presence, acks, offers) go before file data; a transfer's own Start, Chunk and Done frames
/// share the data queue, so they keep their order on the wire while control overtakes them. It counts what it holds
/// (queued, plus handed to the transport and not yet acknowledged) and hands out writes in order; acknowledgements come
/// back in the same order. Pure: no actor, no socket.</summary>
internal sealed class OutboundQueue
{
    /// <summary>A queued frame: its head bytes and, for a chunk, the data it carries without a copy (and the chunk itself
    /// when its buffer is pooled and ours to release once written: a relayed chunk).</summary>
    private readonly record struct Item(byte[] Head, ArraySegment<byte> Body, Chunk? Release, Action? Written = null)
    {
        public int Length => Head.Length + Body.Count;
    }

    private readonly Queue<Item> _control = new();
    private readonly Queue<Item> _data = new();
    /// <summary>Per write handed out, in order: its size, the pooled chunks to release when it is acknowledged, and who
    /// wants to hear that a frame of it was written.</summary>
    private readonly Queue<(int Bytes, Action? Release, Action? Written)> _inFlight = new();

    /// <summary>Bytes queued or handed out and not yet acknowledged.</summary>
    public long Held { get; private set; }

    /// <summary>Writes handed out and not yet acknowledged.</summary>
    public int InFlight => _inFlight.Count;

    public bool IsEmpty => _control.Count == 0 && _data.Count == 0;

    /// <summary>A transfer's sender-side frames that must stay in order with its chunks.</summary>
    public static bool IsData(Frame frame) => frame is Chunk or Start or Done;

    /// <summary>Encodes <paramref name="frame"/> and queues it; returns its size on the wire (what it adds to
    /// <see cref="Held"/>). A chunk's data is kept as it is, not copied.</summary>
    /// <exception cref="ArgumentException">The frame cannot be encoded (a bug: peer-chosen text is checked first).</exception>
    public static (byte[] Head, ArraySegment<byte> Body, Chunk? Release) Encode(Frame frame) => frame is Chunk chunk
        ? (FrameEncoder.EncodeChunkHeader(chunk.Id, chunk.Offset, chunk.Data.Length), AsSegment(chunk.Data), chunk.Pooled ? chunk : null)
        : (FrameEncoder.Encode(frame), default, null);

    /// <summary>Queues an encoded frame: data (a transfer's Start, Chunk, Done) behind all data, anything else behind all
    /// control but ahead of data. <paramref name="written"/> runs once the frame's write is acknowledged.</summary>
    public void Enqueue(byte[] head, ArraySegment<byte> body, Chunk? release, bool data, Action? written = null)
    {
        var item = new Item(head, body, release, written);
        (data ? _data : _control).Enqueue(item);
        Held += item.Length;
    }

    /// <summary>The next write: every queued control frame that fits in <paramref name="budget"/> bytes (at least one),
    /// plus at most one data frame while there is room; null when nothing is queued. It counts as in flight until
    /// <see cref="Acknowledged"/>.</summary>
    public OutboundWrite? Next(int budget)
    {
        if (IsEmpty) return null;
        var segments = new List<ArraySegment<byte>>(4);
        var taken = 0;
        Action? written = null;
        Action? release = null;
        while (_control.TryPeek(out var c) && (taken == 0 || taken + c.Length <= budget))
        {
            _control.Dequeue();
            segments.Add(c.Head);
            // A node link's relayed chunk: control, in order with the link's other messages, its data from its buffer.
            if (c.Body.Count > 0) segments.Add(c.Body);
            taken += c.Length;
            written += c.Written;
            if (c.Release is { } chunk) release += chunk.Release;
        }
        if (taken < budget && _data.TryDequeue(out var d))
        {
            segments.Add(d.Head);
            if (d.Body.Count > 0) segments.Add(d.Body);
            taken += d.Length;
            if (d.Release is { } chunk) release += chunk.Release;
            written += d.Written;
        }
        _inFlight.Enqueue((taken, release, written));
        return new OutboundWrite(segments, taken);
    }

    /// <summary>The oldest write handed out was acknowledged (its bytes are in the kernel): returns its size; a relayed
    /// chunk's pooled buffer goes back, and whoever asked to hear of a frame in it does.</summary>
    public int Acknowledged()
    {
        if (!_inFlight.TryDequeue(out var written)) return 0;
        Held -= written.Bytes;
        written.Release?.Invoke();
        written.Written?.Invoke();
        return written.Bytes;
    }

    /// <summary>Closing: file data is dropped; of the control frames, only the first <paramref name="maxBytes"/> stay (a
    /// slow consumer's backlog goes, its goodbye does not).</summary>
    public void DropForClose(long maxBytes)
    {
        foreach (var d in _data) d.Release?.Release();
        _data.Clear();
        var kept = 0L;
        var keep = new List<Item>();
        foreach (var c in _control)
        {
            if ((kept += c.Length) > maxBytes || c.Release is not null)
            {
                c.Release?.Release();
                continue;
            }
            keep.Add(c);
        }
        _control.Clear();
        foreach (var c in keep) _control.Enqueue(c);
        Held = keep.Sum(c => (long)c.Length) + _inFlight.Sum(w => (long)w.Bytes);
    }

    /// <summary>Everything queued is dropped (the peer left): nothing more will be written.</summary>
    public void Clear()
    {
        foreach (var d in _data) d.Release?.Release();
        _data.Clear();
        foreach (var c in _control) c.Release?.Release();
        _control.Clear();
        Held = _inFlight.Sum(w => (long)w.Bytes);
    }

    internal static ArraySegment<byte> AsSegment(ReadOnlyMemory<byte> memory) =>
        MemoryMarshal.TryGetArray(memory, out var segment) ? segment : new ArraySegment<byte>(memory.ToArray());
}
