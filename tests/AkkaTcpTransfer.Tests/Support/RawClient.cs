using System.Net;
using System.Net.Sockets;
using AkkaTcpTransfer.Protocol;

namespace AkkaTcpTransfer.Tests.Support;

/// <summary>A plain socket speaking (or abusing) the wire protocol, to play a hostile or broken peer.</summary>
public sealed class RawClient : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly FrameDecoder _decoder = new(1 << 20);
    private readonly Queue<Frame> _pending = new();
    private readonly byte[] _buffer = new byte[64 * 1024];

    private RawClient(Socket socket) => _socket = socket;

    /// <param name="receiveBuffer">A small kernel receive buffer makes a peer that does not read fill up quickly.</param>
    public static async Task<RawClient> ConnectAsync(int port, int? receiveBuffer = null)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        if (receiveBuffer is { } size) socket.ReceiveBufferSize = size;
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
        return new RawClient(socket);
    }

    public static async Task<RawClient> JoinAsync(int port, string name, string token = "", byte[]? resumeKey = null, int? receiveBuffer = null)
    {
        var client = await ConnectAsync(port, receiveBuffer);
        await client.SendAsync(new Hello(ProtocolLimits.Version, 1 << 20, name, token, resumeKey ?? []));
        client.Welcome = Assert.IsType<Welcome>(await client.ReceiveAsync());
        return client;
    }

    /// <summary>The server's Welcome, for a client that joined.</summary>
    public Welcome? Welcome { get; private set; }

    public Task SendAsync(Frame frame) => SendRawAsync(FrameEncoder.Encode(frame));

    public async Task SendRawAsync(byte[] bytes) => await _socket.SendAsync(bytes);

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
                n = await _socket.ReceiveAsync(_buffer, SocketFlags.None, cts.Token);
            }
            catch (SocketException)
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
    /// come, like TestKit's ExpectNoMsg). Stops early if the server closes.</summary>
    public async Task<List<Frame>> ReceiveUntilQuietAsync(TimeSpan quiet)
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
            if (frame is null) return frames;
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

    /// <summary>Closes with an RST, as a crashed process or a pulled cable would look to the server.</summary>
    public void Vanish()
    {
        _socket.LingerState = new LingerOption(true, 0);
        _socket.Close();
    }

    public ValueTask DisposeAsync()
    {
        _socket.Dispose();
        return ValueTask.CompletedTask;
    }
}
