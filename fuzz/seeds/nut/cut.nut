BEGIN LIST VAR ups
VAR ups ups.status "OB DISCHRG"
VAR ups battery.runtime "12