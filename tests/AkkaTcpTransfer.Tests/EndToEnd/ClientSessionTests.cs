using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Tests.Support;

namespace AkkaTcpTransfer.Tests.EndToEnd;

/// <summary>The client's session (one per connection, under the client's root) against a server played by the test.</summary>
public sealed class ClientSessionTests : NodesAndFiles
{
    [Fact]
    public async Task What_a_server_says_right_behind_its_welcome_is_published_after_the_client_says_it_is_connected()
    {
        // The Welcome and a chat line arrive in one read, so the session has both before its root has heard of the
        // Welcome: the line waits until the root has published Connected.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        using var stop = new CancellationTokenSource();
        var serve = Task.Run(async () =>
        {
            using var tcp = await listener.AcceptTcpClientAsync(stop.Token);
            var stream = tcp.GetStream();
            var decoder = new FrameDecoder(1 << 20);
            var frames = new List<Frame>();
            var buffer = new byte[4096];
            while (frames.Count == 0)
            {
                var n = await stream.ReadAsync(buffer, stop.Token);
                if (n == 0) return;
                decoder.Decode(buffer.AsSpan(0, n), frames);
            }
            Assert.IsType<Hello>(frames[0]);
            var welcome = new Welcome(ProtocolLimits.Version, 1 << 20, "server", "alice", RandomNumberGenerator.GetBytes(32), true,
                new ClientLimits(20, 200, 1, 5, 1000, 2000, 5, 20, 2, 5), ["server", "alice"]);
            var chat = new Protocol.Chat("server", "", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), "first words");
            await stream.WriteAsync((byte[])[.. FrameEncoder.Encode(welcome), .. FrameEncoder.Encode(chat)], stop.Token);
            // Then it listens until the test is over.
            while (await stream.ReadAsync(buffer, stop.Token) > 0)
            {
            }
        });

        var (_, log) = await Nodes.StartClient("alice", port, TestNodes.Insecure);

        await log.WaitFor<ChatReceived>(c => c.Text == "first words");
        var events = log.Snapshot();
        Assert.True(events.ToList().FindIndex(e => e is Connected) < events.ToList().FindIndex(e => e is ChatReceived),
            "published before Connected: " + string.Join(" | ", events));
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => serve);
    }
}
