using AkkaTcp = Akka.IO.Tcp;
using Akka.TestKit.Xunit2;
using AkkaTcpTransfer.Tcp;
using Xunit.Abstractions;

namespace AkkaTcpTransfer.Tests.Actors;

/// <summary>The stream SslStream writes ciphertext to: what reaches Akka.IO, and when a writer waits.</summary>
public sealed class TlsBridgeStreamTests(ITestOutputHelper output) : TestKit("akka.loglevel = WARNING", output)
{
    private static byte[] Record(int size, byte fill) => Enumerable.Repeat(fill, size).ToArray();

    [Fact]
    public async Task Records_written_while_gathering_reach_akka_io_as_one_write_in_their_order()
    {
        var tcp = CreateTestProbe();
        var bridge = new TlsBridgeStream(tcp.Ref, TestActor, window: 1 << 20, wantInput: () => { });
        bridge.Gather();
        for (byte i = 1; i <= 5; i++) await bridge.WriteAsync(Record(16_406, i));
        tcp.ExpectNoMsg(TimeSpan.FromMilliseconds(200)); // gathered, not yet sent
        await bridge.FlushGatheredAsync(CancellationToken.None);

        var write = tcp.ExpectMsg<AkkaTcp.Write>();
        var bytes = write.Data.ToArray();
        Assert.Equal(5 * 16_406, bytes.Length);
        for (byte i = 1; i <= 5; i++) Assert.True(bytes.AsSpan((i - 1) * 16_406, 16_406).IndexOfAnyExcept(i) < 0, $"record {i} out of place");
        Assert.Equal(5 * 16_406, bridge.InFlight);
        tcp.ExpectNoMsg(TimeSpan.FromMilliseconds(100));
        bridge.Acked();
        Assert.Equal(0, bridge.InFlight);
    }

    [Fact]
    public async Task Outside_a_gathering_each_record_goes_at_once_as_the_handshake_needs()
    {
        var tcp = CreateTestProbe();
        var bridge = new TlsBridgeStream(tcp.Ref, TestActor, window: 1 << 20, wantInput: () => { });
        await bridge.WriteAsync(Record(300, 1));
        Assert.Equal(300, tcp.ExpectMsg<AkkaTcp.Write>().Data.Count);
        await bridge.WriteAsync(Record(40, 2));
        Assert.Equal(40, tcp.ExpectMsg<AkkaTcp.Write>().Data.Count);
        // Flushing with nothing gathered sends nothing.
        await bridge.FlushGatheredAsync(CancellationToken.None);
        tcp.ExpectNoMsg(TimeSpan.FromMilliseconds(200));
    }

    [Fact]
    public async Task A_gathered_write_past_the_window_waits_for_akka_io_to_take_what_is_in_flight()
    {
        var tcp = CreateTestProbe();
        var bridge = new TlsBridgeStream(tcp.Ref, TestActor, window: 50_000, wantInput: () => { });
        bridge.Gather();
        await bridge.WriteAsync(Record(60_000, 1));
        var flushing = bridge.FlushGatheredAsync(CancellationToken.None).AsTask();
        tcp.ExpectMsg<AkkaTcp.Write>();
        // 60,000 bytes in flight, over the window: the flush must not end before the ack, however long we give it.
        Assert.NotSame(flushing, await Task.WhenAny(flushing, Task.Delay(300)));
        bridge.Acked();
        await flushing.WaitAsync(TimeSpan.FromSeconds(5));
    }
}
