namespace HikShareGateway.Core.Access;

/// <summary>The privileges of a share, per device (contract §1).</summary>
[Flags]
public enum Privilege
{
    None = 0,
    LiveView = 1,
    Playback = 2,
    AlarmPush = 4,
    TwoWayAudio = 8,
    Ptz = 16,
    All = LiveView | Playback | AlarmPush | TwoWayAudio | Ptz,
}

public static class PrivilegeNames
{
    /// <summary>The contract's spelling (<c>liveView</c>, <c>playback</c>, …) of a single privilege.</summary>
    public static string ToContractName(this Privilege privilege) => privilege switch
    {
        Privilege.LiveView => "liveView",
        Privilege.Playback => "playback",
        Privilege.AlarmPush => "alarmPush",
        Privilege.TwoWayAudio => "twoWayAudio",
        Privilege.Ptz => "ptz",
        _ => throw new ArgumentOutOfRangeException(nameof(privilege), privilege, "not a single privilege"),
    };

    public static bool TryParse(ReadOnlySpan<char> name, out Privilege privilege)
    {
        privilege = name switch
        {
            "liveView" => Privilege.LiveView,
            "playback" => Privilege.Playback,
            "alarmPush" => Privilege.AlarmPush,
            "twoWayAudio" => Privilege.TwoWayAudio,
            "ptz" => Privilege.Ptz,
            _ => Privilege.None,
        };
        return privilege != Privilege.None;
    }

    /// <summary>The contract names of every flag set in <paramref name="privileges"/>, in contract order.</summary>
    public static IEnumerable<string> ToContractNames(this Privilege privileges)
    {
        foreach (var p in new[] { Privilege.LiveView, Privilege.Playback, Privilege.AlarmPush, Privilege.TwoWayAudio, Privilege.Ptz })
        {
            if ((privileges & p) != 0)
            {
                yield return p.ToContractName();
            }
        }
    }
}
