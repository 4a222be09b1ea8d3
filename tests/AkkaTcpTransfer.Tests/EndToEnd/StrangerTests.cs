using System.Security.Cryptography;
using AkkaTcpTransfer.Events;
using AkkaTcpTransfer.Protocol;
using AkkaTcpTransfer.Tests.Support;
using AkkaTcpTransfer.Transfer;

namespace AkkaTcpTransfer.Tests.EndToEnd;

/// <summary>What a client written by someone else, from docs/PROTOCOL.md alone, meets: a transfer's frames in order
/// (Done after the last Chunk, so a receiver can compare at Done), no frame larger than it declared it accepts, and
/// nothing another peer chose (a name, a file name) that can knock it offline.</summary>
public sealed class StrangerTests : NodesAndFiles
{
    /// <summary>Receives offers as a strict third-party receiver would: accepts, collects chunks, and compares size
    /// and SHA-256 at the very moment Done arrives (no waiting for stragglers). Returns how many verified.</summary>
    private static async Task<int> ReceiveStrictly(RawClient receiver, int transfers, int maxFrame)
    {
        var data = new Dictionary<uint, List<byte>>();
        var sizes = new Dictionary<uint, long>();
        var verified = 0;
        while (verified < transfers)
        {
            var frame = await receiver.ReceiveAsync(TimeSpan.FromSeconds(60)) ?? throw new InvalidOperationException("closed");
            switch (frame)
            {
                case Offer o:
                    data[o.Id] = [];
                    sizes[o.Id] = o.Size;
                    await receiver.SendAsync(new Accept(o.Id, 0, [], maxFrame - ProtocolLimits.ChunkOverhead, 256 * 1024));
                    break;
                case Start:
                    break;
                case Chunk c:
                    Assert.True(c.Data.Length <= maxFrame - ProtocolLimits.ChunkOverhead, $"a {c.Data.Length}-byte chunk beyond our frame limit");
                    Assert.Equal(data[c.Id].Count, c.Offset);
                    data[c.Id].AddRange(c.Data.ToArray());
                    await receiver.SendAsync(new Ack(c.Id, data[c.Id].Count));
                    break;
                case Done d:
                    // Compared now: had Done overtaken the last chunk, this would be a mismatch.
                    Assert.Equal(sizes[d.Id], data[d.Id].Count);
                    Assert.Equal(Convert.ToHexStringLower(d.Sha256), Convert.ToHexStringLower(SHA256.HashData([.. data[d.Id]])));
                    await receiver.SendAsync(new Verified(d.Id, d.Sha256));
                    verified++;
                    break;
            }
        }
        return verified;
    }

    [Fact]
    public async Task Done_never_overtakes_the_last_chunk_from_the_server_or_relayed_from_a_client()
    {
        var (server, _) = await Nodes.StartServer();
        var (alice, aliceLog) = await Nodes.StartClient("alice", server.Port, ("transfer.max-concurrent-sends", "8"));
        // The receiver declares a small frame limit: chunks must come cut to fit it, relayed ones included.
        const int maxFrame = 20_000;
        await using var strict = await RawClient.ConnectAsync(server.Port);
        await strict.SendAsync(new Hello(ProtocolLimits.Version, maxFrame, "strict", "", []));
        await strict.Expect<Welcome>();
        var sizes = new[] { 1, 19_986, 19_987, 65_536, 100_003, 300_000, 777_777, 1_000_000 };
        foreach (var (size, i) in sizes.Select((s, i) => (s, i)))
        {
            server.Commands.Tell(new NodeCommands.SendFile("strict", Files.Create($"server/s{i}.bin", size, seed: i)));
            alice.Commands.Tell(new NodeCommands.SendFile("strict", Files.Create($"alice/a{i}.bin", size, seed: 100 + i)));
        }
        Assert.Equal(2 * sizes.Length, await ReceiveStrictly(strict, 2 * sizes.Length, maxFrame));
        Assert.Equal(sizes.Length, (await alice.OutgoingDoneAsync().WaitAsync(TimeSpan.FromSeconds(60))).Sent);
    }

    [Fact]
    public async Task Names_and_file_names_of_any_length_never_knock_a_peer_offline()
    {
        var (server, serverLog) = await Nodes.StartServer();
        await using var mallory = await RawClient.JoinAsync(server.Port, "mallory");
        await using var bob = await RawClient.JoinAsync(server.Port, "bob");
        var huge = new string('界', 21_000); // 63,000 bytes: as long as a string field can carry
        // A message to a huge name: refused, quoting it, cut to size.
        await mallory.SendAsync(new Protocol.Say(1, huge, "hi"));
        var error = await mallory.Expect<SayRefused>();
        Assert.Equal((1u, WireCode.UnknownPeer), (error.Id, error.Code));
        Assert.True(System.Text.Encoding.UTF8.GetByteCount(error.Reason) <= ProtocolLimits.MaxReasonBytes);
        // An offer with a huge unsafe file name, to the server and to bob: refused to mallory, bob never bothered.
        await mallory.SendAsync(new Offer(71, "", [], "server", huge + "/../x", 10, 1));
        Assert.True(System.Text.Encoding.UTF8.GetByteCount((await mallory.Expect<Reject>(r => r.Id == 71)).Reason) <= ProtocolLimits.MaxReasonBytes);
        await mallory.SendAsync(new Offer(72, "", [], "bob", huge, 10, 1));
        await mallory.Expect<Reject>(r => r.Id == 72);
        // A long unsafe name that is within the offer limit is relayed: bob refuses it, and his refusal, quoting it,
        // reaches mallory cut to size. Nobody is disconnected.
        var longUnsafe = new string('x', 3000) + "/../" + new string('y', 900);
        await mallory.SendAsync(new Offer(73, "", [], "bob", longUnsafe, 10, 1));
        var relayed = await bob.Expect<Offer>(o => o.Id == 73);
        await bob.SendAsync(new Reject(73, $"unsafe file name: {relayed.File}"));
        Assert.True(System.Text.Encoding.UTF8.GetByteCount((await mallory.Expect<Reject>(r => r.Id == 73)).Reason) <= ProtocolLimits.MaxReasonBytes);
        foreach (var raw in new[] { mallory, bob })
        {
            await raw.SendAsync(WhoRequest.Instance);
            await raw.Expect<WhoReply>();
        }
        Assert.Empty(serverLog.All<Events.PeerLeft>());
    }
}
