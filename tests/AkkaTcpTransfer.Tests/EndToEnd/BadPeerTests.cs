using System.Buffers.Binary;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Hosting;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Tests.Support;
using PeerJoined = AkkaTcpTransfer.Events.PeerJoined;
using PeerLeft = AkkaTcpTransfer.Events.PeerLeft;

namespace AkkaTcpTransfer.Tests.EndToEnd;

/// <summary>Garbage, oversize frames, silence and vanishing peers end only the offending connection, with a reason
/// where one can be given; the server and every other client carry on.</summary>
public sealed class BadPeerTests : IAsyncLifetime
{
    private readonly TestNodes _nodes = new();
    private ServerNode _server = null!;
    private EventLog _serverLog = null!;
    private (ClientNode Node, EventLog Log) _alice, _bob;

    public async Task InitializeAsync()
    {
        (_server, _serverLog) = await _nodes.StartServer(("server.handshake-timeout", "500ms"));
        _alice = await _nodes.StartClient("alice", _server.Port);
        _bob = await _nodes.StartClient("bob", _server.Port);
    }

    public async Task DisposeAsync() => await _nodes.DisposeAsync();

    private async Task OthersStillChat(string text)
    {
        _alice.Node.Commands.Tell(new NodeCommands.Say(text));
        await _bob.Log.WaitFor<ChatReceived>(c => c.Text == text);
        await _serverLog.WaitFor<ChatReceived>(c => c.Text == text);
    }

    private static void AssertGoodbye(List<Frame> frames, WireCode code, string reasonPart)
    {
        var bye = Assert.IsType<Goodbye>(Assert.Single(frames, f => f is Goodbye));
        Assert.Equal(code, bye.Code);
        Assert.Contains(reasonPart, bye.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Garbage_bytes_close_that_connection_with_a_reason_while_others_keep_chatting()
    {
        await using var raw = await RawClient.ConnectAsync(_server.Port);
        await raw.SendRawAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray());
        var frames = await raw.ReceiveUntilClosedAsync();
        // "GET " read as a length prefix is 1,195,725,856 bytes: refused before anything is allocated. Before the
        // handshake the server's farewell is a Refused, like every other refusal of a client that is not in yet.
        var refused = Assert.IsType<Refused>(Assert.Single(frames));
        Assert.Equal(WireCode.ProtocolViolation, refused.Code);
        Assert.Contains("exceeds the maximum", refused.Reason, StringComparison.Ordinal);
        await OthersStillChat("after garbage");
    }

    [Fact]
    public async Task Oversized_frame_after_the_handshake_closes_only_that_client()
    {
        await using var raw = await RawClient.JoinAsync(_server.Port, "mallory");
        await _alice.Log.WaitFor<PeerJoined>(p => p.Name == "mallory");
        var header = new byte[5];
        BinaryPrimitives.WriteUInt32BigEndian(header, 10_000_000);
        header[4] = (byte)FrameType.Say;
        await raw.SendRawAsync(header);
        AssertGoodbye(await raw.ReceiveUntilClosedAsync(), WireCode.ProtocolViolation, "frame length 10000000 exceeds");
        await _alice.Log.WaitFor<PeerLeft>(p => p.Name == "mallory");
        await OthersStillChat("after oversize");
    }

    [Fact]
    public async Task Unknown_frame_type_and_invalid_utf8_close_only_that_client()
    {
        await using (var raw = await RawClient.JoinAsync(_server.Port, "mallory1"))
        {
            await raw.SendRawAsync([0, 0, 0, 1, 0x7e]);
            AssertGoodbye(await raw.ReceiveUntilClosedAsync(), WireCode.ProtocolViolation, "unknown frame type 0x7e");
        }
        await using (var raw = await RawClient.JoinAsync(_server.Port, "mallory2"))
        {
            // Say (line 1) to "" with a text of two bytes that are not UTF-8.
            await raw.SendRawAsync([0, 0, 0, 11, (byte)FrameType.Say, 0, 0, 0, 1, 0, 0, 0, 2, 0xC3, 0x28]);
            AssertGoodbye(await raw.ReceiveUntilClosedAsync(), WireCode.ProtocolViolation, "not valid UTF-8");
        }
        await OthersStillChat("after bad frames");
    }

    [Fact]
    public async Task A_connection_that_never_completes_the_handshake_is_closed_after_the_timeout()
    {
        await using var raw = await RawClient.ConnectAsync(_server.Port);
        var frames = await raw.ReceiveUntilClosedAsync(TimeSpan.FromSeconds(10));
        var refused = Assert.IsType<Refused>(frames[0]);
        Assert.Equal(WireCode.HandshakeTimeout, refused.Code);
        Assert.Contains("no handshake within 0.5 s", refused.Reason, StringComparison.Ordinal);
        await OthersStillChat("after silence");
    }

    [Fact]
    public async Task A_client_that_sends_something_other_than_hello_first_is_refused()
    {
        await using var raw = await RawClient.ConnectAsync(_server.Port);
        await raw.SendAsync(new Protocol.Say(1, "", "let me in"));
        var refused = Assert.IsType<Refused>((await raw.ReceiveUntilClosedAsync())[0]);
        Assert.Equal(WireCode.ProtocolViolation, refused.Code);
        Assert.Contains("expected Hello first", refused.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Wrong_protocol_version_is_refused_with_the_version_we_speak()
    {
        await using var raw = await RawClient.ConnectAsync(_server.Port);
        await raw.SendAsync(new Hello(99, 65536, "future", "", []));
        var refused = Assert.IsType<Refused>((await raw.ReceiveUntilClosedAsync())[0]);
        Assert.Equal(WireCode.UnsupportedVersion, refused.Code);
        Assert.Contains($"speaks version {ProtocolLimits.Version}", refused.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_client_that_may_not_send_a_server_frame_is_disconnected()
    {
        await using var raw = await RawClient.JoinAsync(_server.Port, "faker");
        await raw.SendAsync(new Protocol.Chat("server", "", 0, "I am the server"));
        AssertGoodbye(await raw.ReceiveUntilClosedAsync(), WireCode.ProtocolViolation, "may not send Chat");
        // Once alice has seen the faker leave, anything it could have made the server pass on would have reached her.
        await _alice.Log.WaitFor<PeerLeft>(p => p.Name == "faker");
        Assert.DoesNotContain(_alice.Log.All<ChatReceived>(), c => c.Text == "I am the server");
    }

    [Fact]
    public async Task A_peer_that_vanishes_is_announced_as_left_and_nothing_else_breaks()
    {
        var raw = await RawClient.JoinAsync(_server.Port, "ghost");
        await _bob.Log.WaitFor<PeerJoined>(p => p.Name == "ghost");
        raw.Vanish();
        await _bob.Log.WaitFor<PeerLeft>(p => p.Name == "ghost");
        await _serverLog.WaitFor<PeerLeft>(p => p.Name == "ghost");
        await OthersStillChat("after vanish");
    }

    [Fact]
    public async Task A_peer_that_goes_silent_is_dropped_after_the_idle_timeout()
    {
        await using var nodes = new TestNodes();
        var (server, serverLog) = await nodes.StartServer(("connection.keepalive-interval", "100ms"), ("connection.idle-timeout", "600ms"));
        // The raw client completes the handshake, then never sends another byte (not even the keepalive pings a
        // real client sends): to the server it is indistinguishable from a peer behind a dead link.
        await using var raw = await RawClient.JoinAsync(server.Port, "sleepy");
        Frame? last = null;
        while (await raw.ReceiveAsync(TimeSpan.FromSeconds(10)) is { } f) last = f;
        var bye = Assert.IsType<Goodbye>(last);
        Assert.Equal(WireCode.IdleTimeout, bye.Code);
        await serverLog.WaitFor<PeerLeft>(p => p.Name == "sleepy");
    }
}
