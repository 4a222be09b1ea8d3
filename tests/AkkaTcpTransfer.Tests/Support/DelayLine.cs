using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace AkkaTcpTransfer.Tests.Support;

/// <summary>A long path on loopback: a TCP proxy on 127.0.0.1 (port 0) that holds every byte, each way, for a fixed
/// delay before passing it on to the target, in order. Bandwidth is the machine's; only the round trip is long.</summary>
public sealed class DelayLine : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _targetPort;
    private readonly TimeSpan _delay;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _tasks = [];
    private readonly List<Socket> _sockets = [];
    private readonly Task _accepting;

    public DelayLine(int targetPort, TimeSpan oneWay)
    {
        _targetPort = targetPort;
        _delay = oneWay;
        _listener.Start();
        _accepting = Task.Run(AcceptLoop);
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    private async Task AcceptLoop()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            client.NoDelay = true;
            try
            {
                await server.ConnectAsync(IPAddress.Loopback, _targetPort, _stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException)
            {
                // The target is gone (or we are stopping): the client sees its connection close.
                client.Dispose();
                server.Dispose();
                continue;
            }
            lock (_sockets)
            {
                _sockets.Add(client);
                _sockets.Add(server);
                _tasks.Add(Pipe(client, server));
                _tasks.Add(Pipe(server, client));
            }
        }
    }

    /// <summary>Reads as fast as the source sends; each read is written once its delay has passed.</summary>
    private async Task Pipe(Socket from, Socket to)
    {
        var line = Channel.CreateUnbounded<(byte[] Data, long Due)>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var writer = Task.Run(async () =>
        {
            try
            {
                await foreach (var (data, due) in line.Reader.ReadAllAsync(_stop.Token))
                {
                    var wait = TimeSpan.FromTicks(due - Environment.TickCount64 * TimeSpan.TicksPerMillisecond);
                    if (wait > TimeSpan.Zero) await Task.Delay(wait, _stop.Token);
                    if (data.Length == 0)
                    {
                        to.Shutdown(SocketShutdown.Send);
                        return;
                    }
                    await to.SendAsync(data, SocketFlags.None, _stop.Token);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }
        });
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                var n = await from.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                line.Writer.TryWrite((buffer[..n], (Environment.TickCount64 * TimeSpan.TicksPerMillisecond) + _delay.Ticks));
                if (n == 0) break;
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
        }
        line.Writer.TryComplete();
        await writer;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        lock (_sockets) foreach (var s in _sockets) s.Dispose();
        await _accepting;
        Task[] tasks;
        lock (_sockets) tasks = [.. _tasks];
        await Task.WhenAll(tasks);
        _stop.Dispose();
    }
}
