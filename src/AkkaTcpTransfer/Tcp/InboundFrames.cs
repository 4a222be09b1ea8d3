using AkkaTcpTransfer.Protocol;

namespace AkkaTcpTransfer.Tcp;

/// <summary>The frames a connection reads, decoded across any read boundaries and sorted: what goes to the owner, what
/// the connection itself consumes (a Ping once the handshake is done; the peer's Goodbye, after which nothing counts),
/// and the first violation. Pure: bytes in, frames out.</summary>
internal sealed class InboundFrames(int maxFrameLength)
{
    private readonly FrameDecoder _decoder = new(maxFrameLength, poolChunks: true);
    private readonly List<Frame> _decoded = [];

    /// <summary>The peer's Goodbye, once it came.</summary>
    public Goodbye? PeerGoodbye { get; private set; }

    /// <summary>The stream ended inside a frame.</summary>
    public bool MidFrame => _decoder.HasPartialFrame;

    /// <summary>Decodes <paramref name="bytes"/>; the frames for the owner, in order, go to <paramref name="deliver"/>.
    /// Returns how many frames were decoded (each counts against the peer's frame rate) and the violation that ends the
    /// connection, if any (the frames before it were valid and are delivered).</summary>
    public (int Decoded, ProtocolException? Violation) Read(ReadOnlySpan<byte> bytes, bool handshakeDone, List<Frame> deliver)
    {
        _decoded.Clear();
        ProtocolException? violation = null;
        try
        {
            _decoder.Decode(bytes, _decoded);
        }
        catch (ProtocolException e)
        {
            violation = e;
        }
        foreach (var frame in _decoded)
        {
            switch (frame)
            {
                case Ping when handshakeDone:
                    break;
                case Goodbye g when PeerGoodbye is null:
                    PeerGoodbye = g;
                    break;
                case var _ when PeerGoodbye is not null:
                    (frame as Chunk)?.Release();
                    break;
                default:
                    deliver.Add(frame);
                    break;
            }
        }
        return (_decoded.Count, violation);
    }

    /// <summary>A TLS client got clear bytes from the server: a server refusing before TLS (busy, or itself without TLS)
    /// sends one Refused frame. Not <c>Complete</c> while the frame is still arriving; then the refusal, or null when the
    /// bytes are no Refused frame (the server does not speak our protocol with TLS).</summary>
    public (bool Complete, Refused? Refusal) ReadClearRefusal(ReadOnlySpan<byte> bytes)
    {
        _decoded.Clear();
        try
        {
            _decoder.Decode(bytes, _decoded);
        }
        catch (ProtocolException)
        {
            return (true, null);
        }
        return _decoded.Count == 0 ? (false, null) : (true, _decoded[0] as Refused);
    }
}
