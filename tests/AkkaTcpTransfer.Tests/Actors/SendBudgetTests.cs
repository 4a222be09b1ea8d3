using System.Diagnostics;
using Akka.TestKit.Xunit2;
using AkkaTcpTransfer.Tcp;
using Xunit.Abstractions;

namespace AkkaTcpTransfer.Tests.Actors;

/// <summary>Whom the node's send budget closes when it is over: the stalled first, then those that read too slowly to
/// empty their queue in time; never a reader that keeps up, nor anyone a burst has only just reached.</summary>
public sealed class SendBudgetTests(ITestOutputHelper output) : TestKit("akka.loglevel = WARNING", output)
{
    private static long Ago(TimeSpan span) => Stopwatch.GetTimestamp() - (long)(span.TotalSeconds * Stopwatch.Frequency);

    [Fact]
    public void A_reader_that_keeps_up_is_never_shed_even_when_its_queue_is_the_largest()
    {
        var budget = new SendBudget(1_000_000);
        var reader = budget.Register(CreateTestProbe().Ref);
        var quiet = budget.Register(CreateTestProbe().Ref);
        var quieter = budget.Register(CreateTestProbe().Ref);
        reader.Add(600_000);
        quiet.Add(300_000);
        quieter.Add(300_000);
        // All three have waited a second; the reader took 50 MB meanwhile, the others a trickle.
        reader.WaitingSinceAt(Ago(TimeSpan.FromSeconds(1)), 50_000_000);
        quiet.WaitingSinceAt(Ago(TimeSpan.FromSeconds(1)), 10_000);
        quieter.WaitingSinceAt(Ago(TimeSpan.FromSeconds(1)), 1_000);
        reader.ProgressAt(Stopwatch.GetTimestamp());
        quiet.ProgressAt(Ago(TimeSpan.FromMilliseconds(600)));
        quieter.ProgressAt(Ago(TimeSpan.FromMilliseconds(900)));

        // 1.2 MB held, 0.75 MB allowed after shedding: the two that barely read go, the slowest first, and the reader
        // stays although that leaves the node over (it will drain).
        Assert.Equal([quieter, quiet], budget.ChooseVictims());
    }

    [Fact]
    public void The_stalled_go_first_the_largest_of_them_first()
    {
        var budget = new SendBudget(1_000_000);
        var reader = budget.Register(CreateTestProbe().Ref);
        var small = budget.Register(CreateTestProbe().Ref);
        var large = budget.Register(CreateTestProbe().Ref);
        reader.Add(500_000);
        small.Add(100_000);
        large.Add(600_000);
        reader.ProgressAt(Ago(TimeSpan.FromMilliseconds(500)));
        small.ProgressAt(Ago(TimeSpan.FromSeconds(5)));
        large.ProgressAt(Ago(TimeSpan.FromSeconds(2)));

        Assert.Equal([large], budget.ChooseVictims());
    }

    [Fact]
    public void A_trickle_reader_is_shed_although_it_acknowledges_often()
    {
        var budget = new SendBudget(1_000_000);
        var trickle = budget.Register(CreateTestProbe().Ref);
        var fast = budget.Register(CreateTestProbe().Ref);
        trickle.Add(700_000);
        fast.Add(700_000);
        // Both acknowledged a write a moment ago; in 3 s of waiting one read 90 KB, the other 300 MB.
        trickle.WaitingSinceAt(Ago(TimeSpan.FromSeconds(3)), 90_000);
        fast.WaitingSinceAt(Ago(TimeSpan.FromSeconds(3)), 300_000_000);
        trickle.ProgressAt(Ago(TimeSpan.FromMilliseconds(100)));
        fast.ProgressAt(Ago(TimeSpan.FromMilliseconds(100)));

        Assert.Equal([trickle], budget.ChooseVictims());
    }

    [Fact]
    public void A_connection_that_was_idle_starts_waiting_when_it_is_given_something_to_send()
    {
        var budget = new SendBudget(1_000_000);
        var idle = budget.Register(CreateTestProbe().Ref);
        var waiting = budget.Register(CreateTestProbe().Ref);
        // Both had their last write acknowledged long ago; only one has held bytes (and read nothing) since.
        idle.ProgressAt(Ago(TimeSpan.FromMinutes(5)));
        waiting.Add(500_000);
        waiting.WaitingSinceAt(Ago(TimeSpan.FromSeconds(1)), 0);
        waiting.ProgressAt(Ago(TimeSpan.FromMilliseconds(900)));
        // A burst for everyone: the idle one's long quiet spell is not a slow reader's.
        idle.Add(600_000);

        Assert.True(idle.SinceProgress < TimeSpan.FromMilliseconds(500));
        Assert.True(idle.Waiting < TimeSpan.FromMilliseconds(500));
        Assert.Equal([waiting], budget.ChooseVictims());
    }

    [Fact]
    public void No_one_is_shed_while_every_connection_is_still_draining()
    {
        var budget = new SendBudget(1_000_000);
        var a = budget.Register(CreateTestProbe().Ref);
        var b = budget.Register(CreateTestProbe().Ref);
        // A burst has just put both over the budget; neither has waited long enough to be judged.
        a.Add(800_000);
        b.Add(700_000);
        a.ProgressAt(Ago(TimeSpan.FromMilliseconds(50)));
        b.ProgressAt(Ago(TimeSpan.FromMilliseconds(200)));

        Assert.Empty(budget.ChooseVictims());
    }
}
