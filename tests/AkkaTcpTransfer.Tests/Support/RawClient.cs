using System.Net;
using System.Net.Sockets;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Fuzzing;

namespace AkkaTcpTransfer.Tests.Support;

/// <summary>A socket speaking (or abusing) the wire protocol, to play a hostile or broken peer: over TLS (pinning the
/// server's fingerprint) when the server runs TLS, as a TLS client in another language would, else in the clear.</summary>
public sealed class RawClient : IAsyncDisposable
{
    private readonly Socket? _socket;
    private readonly Stream _stream;
    private readonly FrameDecoder _decoder = new(1 << 20);
    private readonly Queue<Frame> _pending = new();
    private readonly byte[] _buffer = new byte[64 * 1024];

    private RawClient(Socket? socket, Stream stream)
    {
        _socket = socket;
        _stream = stream;
    }

    /// <param name="receiveBuffer">A small kernel receive buffer makes a peer that does not read fill up quickly.</param>
    /// <param name="tls">Whether to speak TLS; null: as the test server on <paramref name="port"/> does (<see cref="TestNodes.FingerprintOf"/>).</param>
    /// <param name="from">The local address to connect from (another loopback address is another client machine).</param>
    public static async Task<RawClient> ConnectAsync(int port, int? receiveBuffer = null, bool? tls = null, IPAddress? from = null)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        if (receiveBuffer is { } size) socket.ReceiveBufferSize = size;
        if (from is not null) socket.Bind(new IPEndPoint(from, 0));
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        var network = new NetworkStream(socket, ownsSocket: false);
        var fingerprint = TestNodes.FingerprintOf(port);
        if (!(tls ?? fingerprint is not null)) return new RawClient(socket, network);
        using var timeout = new CancellationTokenSource(EventLog.DefaultTimeout);
        var (stream, clear) = await StrangerTls.ConnectAsync(network, fingerprint!, timeout.Token);
        var client = new RawClient(socket, stream);
        if (clear.Length == 0) return client;
        // The server answered in the clear (PROTOCOL.md, "Refusals before TLS"): what it sent is a Refused frame.
        client._decoder.Decode(clear, client._early);
        foreach (var frame in client._early) client._pending.Enqueue(frame);
        return client;
    }

    private readonly List<Frame> _early = [];

    /// <summary>A client on the web client's WebSocket (<paramref name="page"/> is where the page is served), as a
    /// browser's would be: the same frames, in binary messages. <paramref name="origin"/>: the page that claims to open
    /// it (null: none, as a program that is not a browser). Over HTTPS the server is trusted by its fingerprint.</summary>
    public static async Task<RawClient> ConnectWebSocketAsync(Uri page, string? fingerprint, string? origin = null)
    {
        var socket = new System.Net.WebSockets.ClientWebSocket();
        if (origin is not null) socket.Options.SetRequestHeader("Origin", origin);
        if (fingerprint is not null)
            socket.Options.RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                certificate is not null && Security.Fingerprint.Of(new System.Security.Cryptography.X509Certificates.X509Certificate2(certificate)) == fingerprint;
        var uri = new UriBuilder(page) { Scheme = page.Scheme == "https" ? "wss" : "ws", Path = "/ws" }.Uri;
        using var timeout = new CancellationTokenSource(EventLog.DefaultTimeout);
        await socket.ConnectAsync(uri, timeout.Token);
        return new RawClient(null, new WebSocketByteStream(socket));
    }

    public static async Task<RawClient> JoinWebSocketAsync(Uri page, string? fingerprint, string name, string token = "")
    {
        var client = await ConnectWebSocketAsync(page, fingerprint);
        await client.SendAsync(new Hello(ProtocolLimits.Version, 1 << 20, name, token, []));
        var answer = await client.ReceiveAsync();
        client.Welcome = answer as Welcome ?? throw new InvalidOperationException($"{name} was not admitted: {answer}");
        return client;
    }

    /// <summary>A client on a WebSocket the test connected itself.</summary>
    public RawClient(System.Net.WebSockets.WebSocket socket) : this(null, new WebSocketByteStream(socket))
    {
    }

    /// <summary>The WebSocket under a client made by <see cref="ConnectWebSocketAsync"/>.</summary>
    public System.Net.WebSockets.WebSocket? WebSocket => (_stream as WebSocketByteStream)?.Socket;

    public static async Task<RawClient> JoinAsync(int port, string name, string token = "", byte[]? resumeKey = null, int? receiveBuffer = null,
        IPAddress? from = null)
    {
        var client = await ConnectAsync(port, receiveBuffer, from: from);
        await client.SendAsync(new Hello(ProtocolLimits.Version, 1 << 20, name, token, resumeKey ?? []));
        var answer = await client.ReceiveAsync();
        client.Welcome = answer as Welcome ?? throw new InvalidOperationException($"{name} was not admitted: {answer}");
        return client;
    }

    /// <summary>The server's Welcome, for a client that joined.</summary>
    public Welcome? Welcome { get; private set; }

    public Task SendAsync(Frame frame) => SendRawAsync(FrameEncoder.Encode(frame));

    public async Task SendRawAsync(byte[] bytes)
    {
        try
        {
            await _stream.WriteAsync(bytes);
            await _stream.FlushAsync();
        }
        catch (IOException) when (_early.Count > 0)
        {
            // Refused before TLS and closed: the refusal waits to be read.
        }
    }

    /// <summary>The next frame, or null when the server closed the connection. Times out rather than hangs.</summary>
    public async Task<Frame?> ReceiveAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? EventLog.DefaultTimeout);
        var frames = new List<Frame>();
        while (_pending.Count == 0)
        {
            int n;
            try
            {
                n = await _stream.ReadAsync(_buffer, cts.Token);
            }
            catch (Exception e) when (e is SocketException or IOException or ObjectDisposedException)
            {
                return null;
            }
            if (n == 0) return null;
            _decoder.Decode(_buffer.AsSpan(0, n), frames);
            foreach (var f in frames) _pending.Enqueue(f);
            frames.Clear();
        }
        return _pending.Dequeue();
    }

    /// <summary>Every frame that arrives until none has come for <paramref name="quiet"/> (for asserting what did not
    /// come, like TestKit's ExpectNoMsg). A server that closes the connection meanwhile fails the test (nothing coming
    /// from a closed connection proves nothing), unless <paramref name="allowClose"/>: then it stops there.</summary>
    public async Task<List<Frame>> ReceiveUntilQuietAsync(TimeSpan quiet, bool allowClose = false)
    {
        var frames = new List<Frame>();
        while (true)
        {
            Frame? frame;
            try
            {
                frame = await ReceiveAsync(quiet);
            }
            catch (OperationCanceledException)
            {
                return frames;
            }
            if (frame is null)
            {
                if (!allowClose) throw new InvalidOperationException($"the server closed the connection during the quiet period (after {string.Join(", ", frames)})");
                return frames;
            }
            frames.Add(frame);
        }
    }

    /// <summary>The next frame of type <typeparamref name="T"/> (matching, if given), skipping others (presence, pings).</summary>
    public async Task<T> Expect<T>(Func<T, bool>? match = null, TimeSpan? timeout = null) where T : Frame
    {
        var deadline = DateTime.UtcNow + (timeout ?? EventLog.DefaultTimeout);
        while (true)
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero) throw new TimeoutException($"no {typeof(T).Name} frame in time");
            var frame = await ReceiveAsync(left) ?? throw new InvalidOperationException($"connection closed while waiting for {typeof(T).Name}");
            if (frame is T t && (match?.Invoke(t) ?? true)) return t;
        }
    }

    /// <summary>Reads frames until the server closes the connection; returns them all.</summary>
    public async Task<List<Frame>> ReceiveUntilClosedAsync(TimeSpan? timeout = null)
    {
        var frames = new List<Frame>();
        while (await ReceiveAsync(timeout) is { } f) frames.Add(f);
        return frames;
    }

    /// <summary>Closes the socket with a FIN and nothing before it: no Goodbye and, over TLS, no close_notify.</summary>
    public void CloseWithoutGoodbye()
    {
        _socket!.Shutdown(SocketShutdown.Both);
        _socket.Close();
    }

    /// <summary>Closes with an RST, as a crashed process or a pulled cable would look to the server.</summary>
    public void Vanish()
    {
        _socket!.LingerState = new LingerOption(true, 0);
        _socket.Close();
    }

    public ValueTask DisposeAsync()
    {
        _stream.Dispose();
        _socket?.Dispose();
        return ValueTask.CompletedTask;
    }
}
