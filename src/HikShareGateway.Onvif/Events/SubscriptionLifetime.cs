namespace HikShareGateway.Onvif.Events;

/// <summary>
/// When a PullPoint subscription ends, kept on the gateway's clock but learnt only from durations on the device's
/// clock (TerminationTime − CurrentTime of each answer). A camera whose clock is years off still gets its subscription
/// extended in time; a device that grants less than it was asked for (60 s for a PT2M request) gets shorter pulls, so
/// a pull never runs into the end of the subscription.
/// </summary>
/// <remarks>Pure and single-threaded: one instance per subscription, used by its loop only.</remarks>
public sealed class SubscriptionLifetime
{
    private static readonly TimeSpan MinimumPull = TimeSpan.FromSeconds(1);
    private readonly TimeSpan _configuredPull;
    private DateTimeOffset _ends;

    public SubscriptionLifetime(PullPointTiming timing, DateTimeOffset now, DateTimeOffset? deviceCurrent, DateTimeOffset? deviceTermination)
    {
        ArgumentNullException.ThrowIfNull(timing);
        _configuredPull = timing.PullTimeout;
        Lifetime = DeviceSpan(deviceCurrent, deviceTermination) ?? timing.InitialTermination;
        _ends = now + Lifetime;
    }

    /// <summary>What the device granted at subscription (or the requested span when it said nothing usable).</summary>
    public TimeSpan Lifetime { get; private set; }

    /// <summary>Room left for a Renew (or a new subscription) before the end: a sixth of the lifetime, at most 10 s.</summary>
    public TimeSpan Margin => TimeSpan.FromTicks(Math.Min(TimeSpan.FromSeconds(10).Ticks, Lifetime.Ticks / 6));

    /// <summary>The longest pull this subscription allows: the configured one, or half of what is left after the margin.</summary>
    private TimeSpan BasePull => Max(MinimumPull, Min(_configuredPull, (Lifetime - Margin) / 2));

    public DateTimeOffset Ends => _ends;

    /// <summary>True when the next pull would end closer to the end than the margin: renew (or resubscribe) now.</summary>
    public bool MustExtend(DateTimeOffset now) => _ends - now < BasePull + Margin;

    /// <summary>The pull timeout to ask for now: never past the end of the subscription minus the margin.</summary>
    public TimeSpan PullTimeout(DateTimeOffset now) => Max(MinimumPull, Min(BasePull, _ends - now - Margin));

    /// <summary>After a Renew: the device's span when it gave both times, else what it granted at subscription.</summary>
    public void Renewed(DateTimeOffset now, DateTimeOffset? deviceCurrent, DateTimeOffset? deviceTermination)
    {
        var span = DeviceSpan(deviceCurrent, deviceTermination) ?? Lifetime;
        Lifetime = span;
        _ends = now + span;
    }

    /// <summary>
    /// After a PullMessages answer, which reports the subscription's end too: an earlier end than expected is believed
    /// (the device may have granted less on Renew); a later one is not, since some devices write a fixed span there.
    /// </summary>
    public void Pulled(DateTimeOffset now, DateTimeOffset? deviceCurrent, DateTimeOffset? deviceTermination)
    {
        if (DeviceSpan(deviceCurrent, deviceTermination) is { } left && now + left < _ends)
        {
            _ends = now + left;
        }
    }

    private static TimeSpan? DeviceSpan(DateTimeOffset? current, DateTimeOffset? termination) =>
        current is { } c && termination is { } t && t > c ? t - c : null;

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;
}
