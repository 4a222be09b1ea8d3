using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Fuzzing;

namespace AkkaTcpTransfer.Benchmarks;

/// <summary>A minimal protocol client, as docs/PROTOCOL.md describes it: for crowds (many cheap clients), for peers
/// that misbehave on purpose (floods, never reading, garbage), and for the fuzzer. It speaks TLS (pinning the server's
/// fingerprint, <see cref="Trust"/>) to a server that does, and can come from any loopback address (127.0.0.0/8), as a
/// crowd would come from many hosts.</summary>
public sealed class WireClient : IDisposable
{
    public const int MaxFrame = 73728;

    private static readonly ConcurrentDictionary<int, string> Fingerprints = new();

    /// <summary>The server on <paramref name="port"/> runs TLS with this key (null: in the clear).</summary>
    public static void Trust(int port, string? fingerprint)
    {
        if (fingerprint is null) Fingerprints.TryRemove(port, out _);
        else Fingerprints[port] = fingerprint;
    }

    private readonly Socket _socket;
    private Stream _stream;
    private readonly FrameDecoder _decoder = new(ProtocolLimits.AbsoluteMaxFrameLength);
    private readonly List<Frame> _frames = [];
    private readonly byte[] _buffer = new byte[64 * 1024];

    private WireClient(Socket socket, Stream stream)
    {
        _socket = socket;
        _stream = stream;
    }

    public Welcome? Welcome { get; private set; }

    /// <summary>The loopback address number <paramref name="index"/> of 250 (127.0.0.1 to 127.0.0.250).</summary>
    public static IPAddress Loopback(int index) => new([127, 0, 0, (byte)(1 + (index % 250))]);

    /// <summary>Connects, and with a TLS server completes the TLS handshake (<paramref name="tcpOnly"/>: not even that,
    /// a connection that never says a word). A server that refuses before TLS answers in the clear: that Refused frame
    /// is then the first <see cref="NextAsync"/> returns.</summary>
    public static async Task<WireClient> ConnectAsync(int port, IPAddress from, int? receiveBuffer = null, bool tcpOnly = false,
        CancellationToken ct = default)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            if (receiveBuffer is { } size) socket.ReceiveBufferSize = size;
            socket.Bind(new IPEndPoint(from, 0));
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), ct);
            var network = new NetworkStream(socket, ownsSocket: false);
            if (tcpOnly || !Fingerprints.TryGetValue(port, out var fingerprint)) return new WireClient(socket, network);
            var client = new WireClient(socket, network);
            await client.StartTlsAsync(fingerprint, ct);
            return client;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>TLS over the connection; a server that answers in the clear sent a Refused frame, which is kept for
    /// <see cref="NextAsync"/> (PROTOCOL.md "Refusals before TLS").</summary>
    private async Task StartTlsAsync(string fingerprint, CancellationToken ct)
    {
        var (stream, clear) = await StrangerTls.ConnectAsync(_stream, fingerprint, ct);
        _stream = stream;
        if (clear.Length > 0) _decoder.Decode(clear, _frames);
    }

    /// <summary>Connects and completes the handshake as <paramref name="name"/>; throws with the refusal if refused.</summary>
    public static async Task<WireClient> JoinAsync(int port, string name, IPAddress from, int? receiveBuffer = null, CancellationToken ct = default)
    {
        var client = await ConnectAsync(port, from, receiveBuffer, ct: ct);
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
        await _stream.WriteAsync(bytes, ct);
    }

    /// <summary>The next frame; throws <see cref="EndOfStreamException"/> when the server closed the connection.</summary>
    public async Task<Frame> NextAsync(CancellationToken ct = default)
    {
        while (_frames.Count == 0)
        {
            var n = await _stream.ReadAsync(_buffer, ct);
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
                var n = await _stream.ReadAsync(_buffer, ct);
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
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or ObjectDisposedException)
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

    public void Dispose()
    {
        _stream.Dispose();
        _socket.Dispose();
    }
}
