using System.Net;
using System.Net.Sockets;
using AkkaTcpTransfer.Protocol;

namespace AkkaTcpTransfer.Benchmarks;

/// <summary>A minimal protocol client on a plain socket, as docs/PROTOCOL.md describes it: for crowds (many cheap
/// clients), for peers that misbehave on purpose (floods, never reading, garbage), and for the fuzzer. It can come from
/// any loopback address (127.0.0.0/8), as a crowd would come from many hosts.</summary>
public sealed class WireClient : IDisposable
{
    public const int MaxFrame = 73728;

    private readonly Socket _socket;
    private readonly FrameDecoder _decoder = new(ProtocolLimits.AbsoluteMaxFrameLength);
    private readonly List<Frame> _frames = [];
    private readonly byte[] _buffer = new byte[64 * 1024];

    private WireClient(Socket socket) => _socket = socket;

    public Welcome? Welcome { get; private set; }

    /// <summary>The loopback address number <paramref name="index"/> of 250 (127.0.0.1 to 127.0.0.250).</summary>
    public static IPAddress Loopback(int index) => new([127, 0, 0, (byte)(1 + (index % 250))]);

    public static async Task<WireClient> ConnectAsync(int port, IPAddress from, int? receiveBuffer = null, CancellationToken ct = default)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            if (receiveBuffer is { } size) socket.ReceiveBufferSize = size;
            socket.Bind(new IPEndPoint(from, 0));
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), ct);
            return new WireClient(socket);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Connects and completes the handshake as <paramref name="name"/>; throws with the refusal if refused.</summary>
    public static async Task<WireClient> JoinAsync(int port, string name, IPAddress from, int? receiveBuffer = null, CancellationToken ct = default)
    {
        var client = await ConnectAsync(port, from, receiveBuffer, ct);
        try
        {
            await client.SendAsync(new Hello(ProtocolLimits.Version, MaxFrame, name, "", []), ct);
            var first = await client.NextAsync(ct);
            client.Welcome = first as Welcome ?? throw new InvalidOperationException($"{name}: expected Welcome, got {first}");
            return client;
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    public async Task SendAsync(Frame frame, CancellationToken ct = default) => await SendRawAsync(FrameEncoder.Encode(frame), ct);

    public async Task SendRawAsync(ReadOnlyMemory<byte> bytes, CancellationToken ct = default)
    {
        while (!bytes.IsEmpty)
        {
            var n = await _socket.SendAsync(bytes, SocketFlags.None, ct);
            bytes = bytes[n..];
        }
    }

    /// <summary>The next frame; throws <see cref="EndOfStreamException"/> when the server closed the connection.</summary>
    public async Task<Frame> NextAsync(CancellationToken ct = default)
    {
        while (_frames.Count == 0)
        {
            var n = await _socket.ReceiveAsync(_buffer, SocketFlags.None, ct);
            if (n == 0) throw new EndOfStreamException("the server closed the connection");
            _decoder.Decode(_buffer.AsSpan(0, n), _frames);
        }
        var frame = _frames[0];
        _frames.RemoveAt(0);
        return frame;
    }

    /// <summary>Reads and drops whatever comes until the server closes (or fails) the connection; returns the last
    /// Goodbye or Refused seen, if any.</summary>
    public async Task<Frame?> DrainUntilClosedAsync(CancellationToken ct = default)
    {
        Frame? last = null;
        try
        {
            while (true)
            {
                var n = await _socket.ReceiveAsync(_buffer, SocketFlags.None, ct);
                if (n == 0) return last;
                _frames.Clear();
                try
                {
                    _decoder.Decode(_buffer.AsSpan(0, n), _frames);
                }
                catch (ProtocolException)
                {
                    return last;
                }
                last = _frames.LastOrDefault(f => f is Goodbye or Refused) ?? last;
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            return last;
        }
    }

    public async Task WaitForChatAsync(string text, CancellationToken ct = default)
    {
        while (await NextAsync(ct) is not Protocol.Chat c || c.Text != text)
        {
            // pings and presence: keep reading
        }
    }

    public void Dispose() => _socket.Dispose();
}
